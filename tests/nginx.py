"""Run Debian's nginx on loopback in front of web processes, with deploy/nginx/chatpresets.conf."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.server import ROOT, free_port, wait_until_serving

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = ROOT / "deploy" / "nginx" / "chatpresets.conf"


def installed() -> bool:
    return Path(NGINX).exists()


def render(*, listen: str, upstreams: list[str]) -> str:
    """The template with its two placeholders filled, as `envsubst` limited to them would."""
    servers = " ".join(f"server {upstream};" for upstream in upstreams)
    return (
        TEMPLATE.read_text()
        .replace("${CHATPRESETS_LISTEN}", listen)
        .replace("${CHATPRESETS_UPSTREAM_SERVERS}", servers)
    )


def main_config(directory: Path) -> str:
    # One worker, so round robin takes the upstreams strictly in turn; the access log names the
    # upstream of each request, for tests to see which process served it.
    return f"""
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format upstreams '$request_method $uri $status $upstream_addr';
    access_log {directory}/access.log upstreams;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/chatpresets.conf;
}}
"""


@contextmanager
def nginx(upstreams: list[str], *, timeout: float = 10.0) -> Iterator[tuple[str, Path]]:
    """nginx in front of `upstreams` (host:port each); yields its base URL and its access log."""
    directory = Path(tempfile.mkdtemp(prefix="nginx-"))
    port = free_port()
    (directory / "chatpresets.conf").write_text(render(listen=f"127.0.0.1:{port}", upstreams=upstreams))
    (directory / "nginx.conf").write_text(main_config(directory))
    command = [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", str(directory / "error.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, timeout, directory / "error.log", name="nginx")
        yield base, directory / "access.log"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
