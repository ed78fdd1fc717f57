"""The floor for any Python proxy: forward POST /v1/chat/completions and stream the answer back.

No auth, no parsing, no accounting: one pooled aiohttp client upstream, bytes relayed as they
arrive. bench/gateway_side_by_side.py runs it as its arm F:

    .venv/bin/python bench/passthrough_proxy.py --port 8091 --upstream http://127.0.0.1:8090
"""

from __future__ import annotations

import argparse

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def make_app(upstream: str) -> web.Application:
    app = web.Application()

    async def start(app: web.Application) -> None:
        app["client"] = ClientSession(connector=TCPConnector(limit=0), timeout=ClientTimeout(total=300))

    async def stop(app: web.Application) -> None:
        await app["client"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with app["client"].post(f"{upstream}{request.path}", data=body, headers=headers) as answer:
            kept = {name: value for name, value in answer.headers.items() if name.lower() not in HOP_BY_HOP}
            response = web.StreamResponse(status=answer.status, headers=kept)
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/v1/chat/completions", forward)
    app.router.add_get("/healthz", lambda request: web.Response(text="ok"))
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the model's origin, without /v1")
    options = parser.parse_args()
    web.run_app(make_app(options.upstream), host="127.0.0.1", port=options.port, print=None, access_log=None)
