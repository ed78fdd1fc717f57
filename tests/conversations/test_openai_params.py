"""/v1/chat/completions refuses parameters the way OpenAI does: a 400 naming the parameter, before any model call."""

from __future__ import annotations

import pytest

from conversations.models import UsageRecord

COMPLETIONS = "/v1/chat/completions"
pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "hi"}]

REFUSED = [
    ("max_tokens", "abc"),
    ("max_tokens", -1_000_000),
    ("max_tokens", 0),
    ("max_tokens", 1.5),
    ("max_tokens", True),
    ("max_completion_tokens", "12"),
    ("temperature", 2.5),
    ("temperature", -0.1),
    ("temperature", "hot"),
    ("top_p", 1.01),
    ("presence_penalty", -3),
    ("frequency_penalty", 2.1),
    ("stop", ["a", "b", "c", "d", "e"]),
    ("stop", [1]),
    ("stop", {"a": 1}),
    ("stream", "yes"),
    ("stream_options", {"include_usage": "yes"}),
    ("n", 2),
    ("user", 42),
    ("variables", ["x"]),
]


@pytest.fixture
def completions(api, alice, acme, make_key):
    _, key = make_key(alice, acme, ["chat"])

    def post(body: dict):
        return api(key=key).post(COMPLETIONS, {"model": "fake", "messages": HI, **body}, format="json")

    return post


@pytest.mark.parametrize(("field", "value"), REFUSED, ids=lambda v: repr(v))
def test_a_parameter_openai_would_refuse_is_a_400_in_openai_error_shape(completions, fake_llm, field, value) -> None:
    response = completions({field: value})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["type"], error["param"]) == ("invalid", "invalid_request_error", field)
    assert field in error["message"]
    assert fake_llm.requests == []
    assert not UsageRecord.objects.exists()


def test_parameters_within_openais_ranges_reach_the_model(completions, fake_llm) -> None:
    body = {
        "max_completion_tokens": 7,
        "temperature": 2,
        "top_p": 0,
        "presence_penalty": -2,
        "frequency_penalty": 2,
        "stop": ["a", "b", "c", "d"],
        "stream": False,
        "n": 1,
        "user": "u-1",
        "stream_options": None,
    }
    response = completions(body)
    assert response.status_code == 200, response.content
    sent = fake_llm.requests[-1]
    assert (sent["max_tokens"], sent["temperature"], sent["stop"]) == (7, 2, ["a", "b", "c", "d"])


def test_an_authentication_refusal_carries_openais_error_type(api) -> None:
    response = api(key="cpk_000000000000_nope").post(COMPLETIONS, {"model": "fake", "messages": HI}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
