"""The chat routes served by plain async views, in the OpenAPI schema.

drf-spectacular only sees DRF views, and sending (send.py) and the OpenAI-compatible API
(openai_compat.py) are async Django views so a streamed answer holds no worker thread. The
preprocessing hook `add_plain_views` finds their URL patterns and documents each method with a
DRF view below that exists only to carry the description: the same paths, bodies and errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.views import APIView

from chatpresets.parsers import JSONParser
from conversations.api import openai_compat, send
from conversations.api import openai_shapes as oa
from conversations.api.schema_shapes import (
    RETRY_AFTER,
    STREAM,
    STREAM_OR_REPLAY,
    TURN_EVENT,
    WWW_AUTHENTICATE,
    TurnResultSerializer,
    error_responses,
)
from conversations.api.serializers import RegenerateSerializer, SendMessageSerializer
from conversations.models import Conversation
from tenancy.authentication import ApiKeyAuthentication

Endpoint = tuple[str, str, str, Callable[..., Any]]

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": 100, "pattern": r"^[^\x00]*$"},
    OpenApiParameter.HEADER,
    description="Makes a retry safe: the first result is returned, and no second message or model call is made. "
    "Overrides `client_id`.",
)
HEADERS = [RETRY_AFTER, WWW_AUTHENTICATE]
TURN_ERRORS = [400, 401, 403, 404, 409, 413, 429, 502, 503]


def _answered(description: str, streamed: str = STREAM) -> dict[Any, Any]:
    return {
        (201, "application/json"): OpenApiResponse(TurnResultSerializer, description=description),
        (200, "text/event-stream"): OpenApiResponse(TURN_EVENT, description=streamed),
    }


# Each class below describes a route a plain view serves and is never routed itself; its handler's
# docstring is the operation's description.
class DocumentationOnly(GenericAPIView):
    queryset = Conversation.objects.none()  # names the model, so `{id}` is typed as on the DRF routes
    parser_classes = [JSONParser]  # the plain views read JSON bodies only
    explicit_errors = True  # each operation below lists the errors its view answers

    def refuse(self) -> NoReturn:
        raise NotImplementedError("documentation only; the route is served by a plain async view")


class SendMessageDoc(DocumentationOnly):
    @extend_schema(
        summary="Send a message; the answer comes back as JSON or as server-sent events",
        request=SendMessageSerializer,
        parameters=[IDEMPOTENCY_KEY, *HEADERS],
        responses={
            **_answered("The question and its answer, both stored.", STREAM_OR_REPLAY),
            (200, "application/json"): OpenApiResponse(TurnResultSerializer, description=STREAM_OR_REPLAY),
            **error_responses([*TURN_ERRORS, 422]),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> NoReturn:
        """Stores the question, calls the conversation's model (its preset's, if it has one) and stores the
        answer. `"stream": true` sends the answer as it is written; a client that leaves keeps the partial
        answer stored. `Idempotency-Key` (or `client_id`) makes a retry return the first result."""
        self.refuse()


class RegenerateDoc(DocumentationOnly):
    @extend_schema(
        summary="Answer the last question again; the old answer stays stored but leaves the prompt",
        request=RegenerateSerializer,
        parameters=HEADERS,
        responses={**_answered("The question and its new answer."), **error_responses(TURN_ERRORS)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> NoReturn:
        """The last answer is kept, marked `superseded`, and left out of every later prompt."""
        self.refuse()


class EditDoc(DocumentationOnly):
    @extend_schema(
        summary="Replace the last question and answer the edited one",
        request=SendMessageSerializer,
        parameters=[IDEMPOTENCY_KEY, *HEADERS],
        responses={
            **_answered("The edited question and its answer.", STREAM_OR_REPLAY),
            (200, "application/json"): OpenApiResponse(TurnResultSerializer, description=STREAM_OR_REPLAY),
            **error_responses([*TURN_ERRORS, 422]),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> NoReturn:
        """The last question and its answers are kept, marked `superseded`; the edited one is answered."""
        self.refuse()


class OpenAIDocumentationOnly(APIView):
    authentication_classes = [ApiKeyAuthentication]  # `Authorization: Bearer <key>` only, no session
    parser_classes = [JSONParser]

    def refuse(self) -> NoReturn:
        raise NotImplementedError("documentation only; the route is served by a plain async view")


class ChatCompletionsDoc(OpenAIDocumentationOnly):
    @extend_schema(
        summary="OpenAI-compatible chat completion with a catalogue model or a preset",
        tags=["openai"],
        request=oa.ChatCompletionCreateSerializer,
        parameters=HEADERS,
        responses={
            (200, "application/json"): OpenApiResponse(oa.ChatCompletionSerializer, description="The answer."),
            (200, "text/event-stream"): oa.COMPLETION_STREAM,
            **error_responses([400, 401, 403, 404, 409, 413, 429, 502, 503], oa.OpenAIErrorSerializer),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> NoReturn:
        """Works with OpenAI's clients: an API key of this service (`chat` scope) is the credential and its
        organisation the tenant. `model` is a catalogue model or `preset:<slug>[@<version>]`; a preset's
        system prompt comes first, and its model and parameters apply unless the request sets parameters.
        Parameters are checked as OpenAI checks them; errors carry OpenAI's `type` and `param`."""
        self.refuse()


class ModelsDoc(OpenAIDocumentationOnly):
    @extend_schema(
        summary="The models and approved presets this key may use",
        tags=["openai"],
        parameters=HEADERS,
        responses={200: oa.ModelListSerializer, **error_responses([401, 403, 429, 503], oa.OpenAIErrorSerializer)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> NoReturn:
        """The catalogue models the organisation allows, then `preset:<slug>` for each approved preset the
        key's user may use."""
        self.refuse()


# The served view -> what documents each of its methods (GET of messages is the real DRF list).
DOCUMENTED: dict[Callable[..., Any], dict[str, Callable[..., Any]]] = {
    send.messages_endpoint: {"GET": send.list_messages, "POST": SendMessageDoc.as_view()},
    send.regenerate_endpoint: {"POST": RegenerateDoc.as_view()},
    send.edit_endpoint: {"POST": EditDoc.as_view()},
    openai_compat.chat_completions_endpoint: {"POST": ChatCompletionsDoc.as_view()},
    openai_compat.models_endpoint: {"GET": ModelsDoc.as_view()},
}


class PlainViewEndpoints(EndpointEnumerator):
    """The URL patterns of the documented plain views, with the paths DRF's own would get."""

    def should_include_endpoint(self, path: str, callback: Callable[..., Any]) -> bool:
        return callback in DOCUMENTED

    def get_allowed_methods(self, callback: Callable[..., Any]) -> list[str]:
        return list(DOCUMENTED[callback])


def add_plain_views(endpoints: list[Endpoint]) -> list[Endpoint]:
    """PREPROCESSING_HOOKS entry: the DRF endpoints plus the plain views, each method with its description."""
    found = PlainViewEndpoints()._get_api_endpoints(None, "")
    return [*endpoints, *((path, regex, method, DOCUMENTED[view][method]) for path, regex, method, view in found)]


def describe_event_streams(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: each `text/event-stream` answer is described event by event.

    The views document the JSON payload of an event; on the wire each event is `event:` and `data:`
    lines, which OpenAPI 3.2 (`itemSchema`) and Schemathesis read as `{"event", "data"}` with `data`
    a string (`event` is "message" when the line is absent). OpenAPI 3.0 has no `contentSchema`,
    so the payload's schema stays a component, named by `x-contentSchema` on `data`.
    """
    schemas = result.get("components", {}).get("schemas", {})
    for path_item in result["paths"].values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                stream = response.get("content", {}).get("text/event-stream")
                if stream is not None:
                    stream["schema"] = server_sent_event(stream["schema"], schemas)
    return result


def server_sent_event(payload: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    component = schemas.get(payload.get("$ref", "").rpartition("/")[2], {})
    names = sorted(component.get("discriminator", {}).get("mapping", {})) or ["message"]
    return {
        "type": "object",
        "properties": {
            "event": {"type": "string", "enum": names, "description": "The payload's `type`, or `message`."},
            "data": {
                "type": "string",
                "description": "The event's payload as JSON (its schema is `x-contentSchema`); "
                "`[DONE]` ends an OpenAI-compatible stream.",
                "x-contentMediaType": "application/json",
                "x-contentSchema": payload,
            },
        },
        "required": ["event", "data"],
    }
