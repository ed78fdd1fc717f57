"""DRF's JSON parser, with JSON nested deeper than Python's parser allows refused as a parse error.

`json.loads("[" * 100_000)` raises RecursionError, which DRF's parser does not catch (it expects
ValueError), so without this a 100 KB body would be a 500.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError("JSON parse error - the body is nested too deeply.") from error
