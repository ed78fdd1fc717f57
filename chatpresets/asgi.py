"""ASGI entry point: HTTP through Django (a keyed completion past its chain), websockets through the
handshake budget → key or (Origin-checked) session auth → the process's socket caps → router."""

from __future__ import annotations

import os

import django
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
django.setup(set_prefix=False)

from chatpresets.observability import metrics, multiprocess, tracing  # noqa: E402  (reads settings)

tracing.configure()  # before the handler loads its middleware: the tracing middleware joins it
multiprocess.register_exit_hook()
metrics.expose_web_gauges()
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)
from django.conf import settings  # noqa: E402

from chatpresets.admission import TurnGate  # noqa: E402
from chatpresets.body_limit import BodySizeLimit  # noqa: E402
from chatpresets.daphne_tuning import (  # noqa: E402
    enable_tcp_nodelay,
    keep_model_clients_on_the_server_loop,
    limit_websocket_messages,
)
from chatpresets.gc_tuning import freeze_startup_heap  # noqa: E402
from chatpresets.llm.tokens import load_catalogue_encodings  # noqa: E402
from chatpresets.open_files import make_room as make_room_for_sockets  # noqa: E402
from chatpresets.routing import websocket_urlpatterns  # noqa: E402
from chatpresets.scheduler import start_if_enabled as start_periodic_tasks  # noqa: E402
from chatpresets.shutdown import install as drain_on_sigterm  # noqa: E402
from conversations.api.completions_route import CompletionsRoute  # noqa: E402
from conversations.handshakes import HandshakeGate  # noqa: E402
from conversations.socket_slots import SocketGate  # noqa: E402
from tenancy.ws_auth import ApiKeyOrSessionAuth  # noqa: E402

enable_tcp_nodelay()
make_room_for_sockets(settings.WEBSOCKET_MAX_OPEN)
load_catalogue_encodings()  # here, not in an AppConfig.ready(): manage.py commands need not wait
limit_websocket_messages(settings.REQUEST_BODY_MAX_BYTES)
drain_on_sigterm()
keep_model_clients_on_the_server_loop()

application = ProtocolTypeRouter(
    {
        "http": TurnGate(BodySizeLimit(CompletionsRoute(django_asgi_app))),
        "websocket": HandshakeGate(ApiKeyOrSessionAuth(SocketGate(URLRouter(websocket_urlpatterns)))),
    }
)

freeze_startup_heap()  # last: everything the process keeps is built by now

# Without a broker nothing else runs the periodic tasks: this server process does (PERIODIC_TASKS_INLINE).
start_periodic_tasks()
