"""The sampling parameters of /v1/chat/completions, checked the way OpenAI checks them.

Everything is refused before a preset is resolved, a quota held or the model called: a value the
model server would reject (or crash on, like `max_tokens: "abc"`) is the caller's 400, with
`details.field` naming the parameter (the `param` of OpenAI's error shape).
"""

from __future__ import annotations

import math
from typing import Any

from chatpresets.errors import InvalidInput

# name -> (lowest, highest), inclusive, as OpenAI documents them.
NUMBERS: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}
ANSWER_LIMITS = ("max_tokens", "max_completion_tokens")
MAX_STOP_SEQUENCES = 4


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"field": field})


def _is_number(value: Any) -> bool:
    # bool is an int in Python, never a number in JSON
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_params(body: dict[str, Any]) -> None:
    """Raise InvalidInput for the first parameter OpenAI would refuse; null means absent."""
    for field in ANSWER_LIMITS:
        value = body.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise _refuse(field, f"`{field}` must be an integer of at least 1.")
    for field, (lowest, highest) in NUMBERS.items():
        value = body.get(field)
        if value is not None and not (_is_number(value) and lowest <= value <= highest):
            raise _refuse(field, f"`{field}` must be a number from {lowest} to {highest}.")
    _check_stop(body.get("stop"))
    _check_types(body)


def _check_stop(stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(item, str) for item in stop):
        raise _refuse("stop", "`stop` must be a string or a list of strings.")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise _refuse("stop", f"`stop` takes at most {MAX_STOP_SEQUENCES} sequences.")


def _check_types(body: dict[str, Any]) -> None:
    if body.get("n") not in (None, 1) or isinstance(body.get("n"), bool):
        raise _refuse("n", "Only one choice per call is supported: `n` must be 1 or absent.")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _refuse("stream", "`stream` must be true or false.")
    options = body.get("stream_options")
    usage_flag = options.get("include_usage", False) if isinstance(options, dict) else None
    if options is not None and not isinstance(usage_flag, bool):
        raise _refuse("stream_options", "`stream_options` must be an object with a boolean `include_usage`.")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise _refuse("user", "`user` must be a string.")
    if body.get("variables") is not None and not isinstance(body["variables"], dict):
        raise _refuse("variables", "`variables` must be an object of preset variable values.")
