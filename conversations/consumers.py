"""The conversation websocket: /ws/orgs/<org_slug>/conversations/<id>/ (frames in docs/websocket.md).

Authorised on connect and again on every action, from the key, user and membership as stored
now, by tenancy/chat_caller.py: a refused handshake closes with the API's status for the same
refusal plus 4000 (an outsider's 404 is 4404). Each socket also joins the
access groups of its key, membership and user (tenancy/access.py): when one of them changes it
re-authorises at once and, if its caller may no longer chat, stops its answer, sends an
`access_revoked` error frame and closes with 4403. The answer streams as a task of the consumer
so `stop` and pings are handled meanwhile; tokens go straight to this socket. A `stop` reaches
the answer even when another socket started it (a reconnect: turns.stop_answer). Other tabs hear
of finished messages, stopped ones included, by group event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from chatpresets import admission, request_context
from chatpresets.errors import (
    UNAVAILABLE_EXCEPTIONS,
    AccessRevoked,
    DomainError,
    NotFound,
    dependency_failure,
)
from chatpresets.observability import metrics, timing
from chatpresets.socket_threads import database_sync_to_async
from conversations import services
from conversations.frame_budget import FrameBudget, TooManyFrames
from conversations.models import Conversation, Message
from conversations.payloads import ack_frame, error_frame, error_payload, message_payload
from conversations.selectors import answer_in, conversation_for_caller, unfinished_answers
from conversations.turns import resume, stop_answer, stream_turn
from tenancy import access, denials
from tenancy.chat_caller import ChatCaller, chat_caller_as_stored
from tenancy.ws_auth import CLOSE_TOO_MANY_FAILED_ATTEMPTS, CLOSE_UNAUTHENTICATED, CLOSE_UNAVAILABLE

logger = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404
CLOSE_FORBIDDEN = 4403  # a handshake whose caller may not chat, or an open socket that lost access
CLOSE_ACCESS_REVOKED = CLOSE_FORBIDDEN
CLOSE_TOO_MANY_FRAMES = CLOSE_TOO_MANY_FAILED_ATTEMPTS  # 429 in the 4000 range, as for the handshake's lockout
STOP_GRACE_SECONDS = 5.0  # how long a revoked socket waits for its cancelled answer to be stored
TURN_FRAMES = frozenset({"send", "edit", "regenerate"})
PREPARED_IN_AUTHORIZATION = TURN_FRAMES  # authorised and prepared in one thread hop
CLOSE_BY_STATUS = {
    401: CLOSE_UNAUTHENTICATED,
    403: CLOSE_FORBIDDEN,
    404: CLOSE_NOT_FOUND,
    429: CLOSE_TOO_MANY_FAILED_ATTEMPTS,
    503: CLOSE_UNAVAILABLE,
}


def authorize(
    user_id: Any, key_id: Any, org_slug: str, conversation_id: str, *, socket_open: bool, for_update: bool = False
) -> tuple[ChatCaller, Conversation]:
    """The caller as stored now and their conversation; the caller's refusal, or NotFound for the conversation.

    Read afresh each time: the key and user loaded at the handshake would still look valid after
    the key was revoked or the user deactivated. On an open socket a refusal of the caller is
    AccessRevoked (its frame names the refusal), since the socket closes over it.
    """
    caller = caller_as_stored(user_id, key_id, org_slug, socket_open=socket_open)
    return caller, conversation_of(caller, conversation_id, socket_open=socket_open, for_update=for_update)


def caller_as_stored(user_id: Any, key_id: Any, org_slug: str, *, socket_open: bool) -> ChatCaller:
    try:
        return chat_caller_as_stored(user_id=user_id, key_id=key_id, org_slug=org_slug)
    except DomainError as error:
        if not socket_open:
            raise
        raise AccessRevoked(details={"reason": error.code}) from error


def conversation_of(caller: ChatCaller, conversation_id: str, *, socket_open: bool, for_update: bool) -> Conversation:
    try:
        return conversation_for_caller(
            membership=caller.membership, conversation_id=conversation_id, for_update=for_update
        )
    except NotFound:
        if not socket_open:  # a handshake naming another organisation's conversation is a denied attempt
            denials.record_hidden(
                actor=caller.membership.user,
                org=caller.membership.org,
                route="ws-conversation",
                addressed=[(Conversation, conversation_id)],
            )
        raise


def authorize_and_prepare(
    content: dict[str, Any], user_id: Any, key_id: Any, org_slug: str, conversation_id: str, *, socket_open: bool
) -> tuple[ChatCaller, Conversation, services.PreparedTurn]:
    """A send, edit or regenerate frame in one thread hop: the caller checked first, outside the
    turn's transaction (a refusal's audit event must not roll back with it), then the conversation
    read under the row lock the turn needs, in the turn's own transaction."""
    caller = caller_as_stored(user_id, key_id, org_slug, socket_open=socket_open)
    with services.turn_transaction():
        conversation = conversation_of(caller, conversation_id, socket_open=socket_open, for_update=True)
        common = {"membership": caller.membership, "conversation": conversation, "api_key_id": key_id}
        if content["type"] == "regenerate":
            return caller, conversation, services.prepare_regenerate_locked(**common)
        text, client_id = content.get("content"), content.get("client_id") or ""
        if not isinstance(text, str) or not isinstance(client_id, str) or len(client_id) > 100:
            raise services.InvalidInput("`content` must be text and `client_id` at most 100 characters.")
        prepare = services.prepare_edit_locked if content["type"] == "edit" else services.prepare_turn_locked
        return caller, conversation, prepare(content=text, client_id=client_id, **common)


def handshake_close_code(error: DomainError) -> int:
    """A refused handshake's close code: the HTTP status the same refusal gets, in the 4000 range."""
    return CLOSE_BY_STATUS.get(error.status_code, CLOSE_NOT_FOUND)


class ConversationConsumer(AsyncJsonWebsocketConsumer):
    task: asyncio.Task | None = None
    catch_up: asyncio.Task | None = None  # a `resume` following an answer
    expiry_watch: asyncio.Task | None = None
    groups_joined: tuple[str, ...] = ()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' consumer loop, which also reads this socket's channel on the channel layer. When that
        read fails (Redis gone), the socket is closed with 4503 like any other outage, not by the server
        with 1011 and a traceback; an answer streaming to it goes on and is stored, for a `resume`."""
        try:
            await super().__call__(scope, receive, send)
        except UNAVAILABLE_EXCEPTIONS as exc:
            dependency_failure(exc)
            await self.disconnect(CLOSE_UNAVAILABLE)
            with contextlib.suppress(Exception):  # the socket may be gone already
                await send({"type": "websocket.close", "code": CLOSE_UNAVAILABLE})

    async def connect(self) -> None:
        """Authorise, join the socket's groups and accept, in the socket slot SocketGate took for it."""
        self.frames = FrameBudget(settings.WEBSOCKET_FRAME_RATE, settings.WEBSOCKET_FRAME_BURST)
        try:
            await self.authorize()
        except DomainError as error:
            await self.refuse(handshake_close_code(error))
            return
        except UNAVAILABLE_EXCEPTIONS as exc:
            dependency_failure(exc)  # logs it, without a traceback
            await self.refuse(CLOSE_UNAVAILABLE)
            return
        self.group = f"conversation.{self.conversation.pk}"
        key_id = self.api_key.pk if self.api_key else None
        groups = (
            self.group,
            *access.groups_for(org_id=self.membership.org_id, user_id=self.membership.user_id, key_id=key_id),
        )
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined += (group,)
        except UNAVAILABLE_EXCEPTIONS as exc:
            # Without its groups the socket would miss a revocation and the other tabs' answers.
            dependency_failure(exc)
            await self.refuse(CLOSE_UNAVAILABLE)
            return
        await self.accept()
        self.opened = True
        metrics.OPEN_WEBSOCKETS.labels().inc()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its thread hop to close old database connections before every
        frame and event: every database access here goes through database_sync_to_async, which
        closes them in its own thread, before and after (websocket_disconnect still closes them)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def refuse(self, code: int) -> None:
        """Refuse the handshake with a close code the client can read, giving its socket slot back now.

        A close before `accept` becomes an HTTP 403, which hides the code from browsers; so accept,
        then close at once. `closed` is set first: a frame that slips in between is never processed.
        """
        self.closed = True
        self.scope["socket_slot"].give_back()
        await self.accept()
        await self.close(code=code)

    async def authorize(self) -> None:
        """Re-read the caller's access and conversation (module `authorize`)."""
        kwargs = self.scope["url_route"]["kwargs"]
        caller, self.conversation = await database_sync_to_async(authorize)(
            self.scope["user"].pk,
            self.api_key_id,
            kwargs["org_slug"],
            kwargs["conversation_id"],
            socket_open=self.opened,
        )
        self.authorized(caller)

    def authorized(self, caller: ChatCaller) -> None:
        self.membership, self.api_key = caller.membership, caller.api_key
        self.watch_expiry()

    closed = False
    opened = False  # accepted: from then on a refusal of the caller revokes the socket

    async def disconnect(self, code: int) -> None:
        self.closed = True  # a streaming answer goes on; a reconnecting socket can `resume` it
        self.scope["socket_slot"].give_back()
        if self.opened:
            metrics.OPEN_WEBSOCKETS.labels().dec()
        for watcher in (self.expiry_watch, self.catch_up):
            if watcher is not None:
                watcher.cancel()
        for group in self.groups_joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except UNAVAILABLE_EXCEPTIONS:  # the channel layer drops the membership itself (its group expiry)
                break

    def watch_expiry(self) -> None:
        """A key that expires while the socket is open closes it then, not at the next frame."""
        expires_at = self.api_key.expires_at if self.api_key else None
        if self.expiry_watch is not None:
            self.expiry_watch.cancel()
            self.expiry_watch = None
        if expires_at is not None:
            delay = max(0.0, (expires_at - timezone.now()).total_seconds())
            self.expiry_watch = asyncio.create_task(self.recheck_after(delay))

    async def recheck_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        # Through our own channel, so the re-check is dispatched in turn with frames and events.
        await self.channel_layer.send(self.channel_name, {"type": access.EVENT_TYPE, "reason": "api_key.expired"})

    async def access_changed(self, event: dict[str, Any]) -> None:
        """The key, membership or user this socket rests on changed: re-check now, close if it may no longer chat."""
        if self.closed:
            return
        try:
            await self.authorize()
        except AccessRevoked as error:
            await self.revoke(error)
        except DomainError:
            pass  # the conversation itself is gone: the next frame is told so

    async def revoke(self, error: AccessRevoked) -> None:
        """Stop the answer (stored as cancelled), send the error frame, close with 4403."""
        self.closed = True  # nothing more of the answer goes to a caller who lost access
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=STOP_GRACE_SECONDS)
        with contextlib.suppress(Exception):  # the client may already be gone
            await self.send_json(error_frame(error))
            await self.close(code=CLOSE_ACCESS_REVOKED)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if self.closed:
            return  # refused or revoked: frames still in flight get nothing
        try:
            self.frames.spend()
        except TooManyFrames as error:
            await self.refuse_frame(error)
            return
        try:
            content = await self.decode_json(text_data) if text_data is not None else None
        except ValueError:
            await self.send_json({"type": "error", "code": "invalid_json", "message": "Frames are JSON objects."})
            return
        await self.receive_json(content)

    async def refuse_frame(self, error: TooManyFrames) -> None:
        """A frame past the socket's budget, unread: an error frame, or the close once the client floods."""
        if not self.frames.flooding:
            metrics.WEBSOCKET_REFUSALS.labels("frame_rate").inc()
            await self.send_json(error_frame(error))
            return
        logger.warning("websocket closed: it went on sending frames past its budget")
        metrics.WEBSOCKET_REFUSALS.labels("frame_flood").inc()
        self.closed = True  # an answer streaming goes on and is stored, for a `resume` on a new socket
        await self.close(code=CLOSE_TOO_MANY_FRAMES)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        handler = {
            "send": self.on_turn,
            "edit": self.on_turn,
            "regenerate": self.on_turn,
            "resume": self.on_resume,
            "stop": self.on_stop,
            "ping": self.on_ping,
        }.get(kind)
        if handler is None:
            await self.send_json({"type": "error", "code": "unknown_frame", "message": f"Unknown frame {kind!r}."})
            return
        # A turn is a request of its own, from its first step to its error frame, if any.
        context = request_context.begin_within(request_context.current()) if kind in TURN_FRAMES else None
        try:
            if kind not in PREPARED_IN_AUTHORIZATION:
                await self.authorize()
            await handler(content)
        except AccessRevoked as error:
            await self.revoke(error)
        except DomainError as error:
            await self.send_json(error_frame(error))
        except UNAVAILABLE_EXCEPTIONS as exc:
            await self.send_json(error_frame(dependency_failure(exc)))
        except Exception:
            # A bug must not take the socket (and the user's other frames) down with it.
            logger.exception("websocket %s frame failed", kind)
            await self.send_json(error_payload(None))
        finally:
            if context is not None:
                request_context.end(context)

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def on_stop(self, content: dict[str, Any]) -> None:
        """Stop the named answer, or every answer being written here, whichever socket started it."""
        message_id = content.get("message_id")
        if message_id is None:
            answers = await database_sync_to_async(unfinished_answers)(self.conversation)
        elif isinstance(message_id, str):
            answers = [str((await database_sync_to_async(answer_in)(self.conversation, message_id)).pk)]
        else:
            raise services.InvalidInput("`message_id` must be the id of an answer in this conversation.")
        for answer_id in answers:
            await stop_answer(answer_id)

    async def on_turn(self, content: dict[str, Any]) -> None:
        """send, edit and regenerate: re-authorised and prepared in one thread hop, timed as one turn.

        Each turn is a request of its own: its id (in the `ack`) is on its log lines and audit
        events, with the socket's id as `connection_id`; the socket's own lines keep the socket's id.
        """
        kwargs = self.scope["url_route"]["kwargs"]
        turn = timing.begin_turn("websocket")
        try:
            with admission.pending(self.scope["socket_slot"].caller):
                caller, self.conversation, prepared = await database_sync_to_async(authorize_and_prepare)(
                    content,
                    self.scope["user"].pk,
                    self.api_key_id,
                    kwargs["org_slug"],
                    kwargs["conversation_id"],
                    socket_open=self.opened,
                )
            self.authorized(caller)
            await self.start(prepared, turn)
        except BaseException as error:
            timing.end_turn(turn, error)
            raise
        finally:
            timing.leave(turn)  # the answer's task keeps the turn; the next frame starts clean

    async def on_resume(self, content: dict[str, Any]) -> None:
        """Catch up on an answer after a reconnect: its deltas after `after_seq`, then live ones, from
        whichever process streams it; or the stored answer."""
        message_id, after = str(content.get("message_id", "")), content.get("after_seq", 0)
        if not isinstance(after, int) or after < 0:
            raise services.InvalidInput("`after_seq` must be a whole number.")
        message = await database_sync_to_async(answer_in)(self.conversation, message_id)
        if self.catch_up is not None:
            self.catch_up.cancel()  # a second resume replaces the first
        # A task: following an answer streamed by another process lasts as long as the answer.
        self.catch_up = asyncio.create_task(self.follow(message, after))

    async def follow(self, message: Message, after: int) -> None:
        try:
            if not await resume(message_id=str(message.pk), after_seq=after, send=self.send_frame):
                await self.send_frame({"type": "done", "message": message_payload(message)})
        except UNAVAILABLE_EXCEPTIONS as exc:
            await self.send_frame(error_frame(dependency_failure(exc)))
        except Exception:
            logger.exception("resume of answer %s failed", message.pk)
            await self.send_frame(error_payload(None))

    @property
    def api_key_id(self) -> Any:
        api_key = self.scope.get("api_key")
        return api_key.pk if api_key else None

    async def start(self, prepared: services.PreparedTurn, turn: timing.Turn) -> None:
        await self.send_json(ack_frame(prepared.user_message))
        if prepared.replayed:
            await self.send_json({"type": "done", "message": message_payload(prepared.assistant_message)})
            timing.end_turn(turn)
            return
        self.task = asyncio.create_task(self.stream(prepared))
        self.task.add_done_callback(lambda task: timing.end_turn(turn))

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Frames for a socket that may have gone: the answer carries on and is stored either way."""
        if not self.closed:
            with contextlib.suppress(Exception):
                await self.send_json(frame)

    async def stream(self, prepared: services.PreparedTurn) -> None:
        try:
            message = await stream_turn(prepared=prepared, send=self.send_frame)
        except DomainError as error:
            await self.send_frame(error_frame(error))
            return
        except UNAVAILABLE_EXCEPTIONS as exc:
            await self.send_frame(error_frame(dependency_failure(exc)))
            return
        except asyncio.CancelledError:
            return
        except Exception:  # stream_turn stored the answer as failed and freed its hold; say so
            logger.exception("streamed answer %s failed", prepared.assistant_message.pk)
            await self.send_frame(error_payload(None))
            return
        with contextlib.suppress(Exception):  # other tabs are a courtesy; the answer is stored
            await self.channel_layer.group_send(
                self.group,
                {"type": "message.completed", "message": message_payload(message), "origin": self.channel_name},
            )

    async def message_completed(self, event: dict[str, Any]) -> None:
        if event["origin"] != self.channel_name:
            await self.send_json({"type": "message", "message": event["message"]})
