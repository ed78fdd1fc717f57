"""Text fields take JSON strings only.

DRF's CharField turns a number into text (`"name": 0` becomes "0"), so the API accepted bodies its
schema calls invalid, and a client's type bug was stored instead of refused. `install` makes every
CharField, and what derives from it (slugs, e-mail addresses, regexes), answer a non-string with
"Not a valid string." (400 `invalid`), as the schema says. Form posts are strings, so pages that
validate with the same serializers are unaffected.
"""

from __future__ import annotations

from typing import Any

from rest_framework import fields

_loose = fields.CharField.to_internal_value


def _strict(self: fields.CharField, data: Any) -> str:
    if not isinstance(data, str):
        self.fail("invalid")
    return _loose(self, data)


def install() -> None:
    fields.CharField.to_internal_value = _strict  # type: ignore[method-assign]
