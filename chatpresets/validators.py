"""Field validators whose rule also reaches the API schema (drf-spectacular turns them into keywords)."""

from __future__ import annotations

from django.core.validators import RegexValidator

# DRF trims text fields with Python's str.strip(), so "\t" or "\x1c" arrives blank and is refused.
# A character outside Python's whitespace is what makes a value non-blank; saying so as a pattern
# tells clients (and schema fuzzers) that whitespace alone is not a name.
NOT_BLANK = RegexValidator(r"[^\s\x1c-\x1f\x85]", message="This field may not be blank.", code="blank")

# The same rule as a JSON Schema pattern, for fields whose schema is written by hand.
NOT_BLANK_PATTERN = r"[^\s\u001c-\u001f\u0085]"
