"""The experiments page's create form: what it posts, read into the API's create body, and the
choices it offers. The API's serializer and the same drafting code judge it (one copy of each rule)."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict

from chatpresets.errors import InvalidInput
from conversations.api.experiment_serializers import ExperimentWriteSerializer
from presets.experiments.models import Metric, Unit
from presets.selectors import preset_list_visible
from tenancy.models import Membership

VARIANT_ROWS = 4  # the API takes up to 10; a longer experiment is drafted through it
SCALARS = ("name", "preset", "label", "traffic_share", "unit", "primary_metric")


def blank_form() -> dict[str, Any]:
    rows = [{"name": name, "preset": "", "version": "", "weight": "1"} for name in ("a", "b")]
    rows += [{"name": "", "preset": "", "version": "", "weight": ""}] * (VARIANT_ROWS - 2)
    return {"traffic_share": "1", "unit": Unit.USER, "primary_metric": Metric.THUMBS_UP_RATE, "variants": rows}


def posted_form(post: QueryDict) -> dict[str, Any]:
    """What was sent, as the form shows it again after a refusal."""
    rows = [
        {key: post.get(f"variant-{index}-{key}", "").strip() for key in ("name", "preset", "version", "weight")}
        for index in range(VARIANT_ROWS)
    ]
    form: dict[str, Any] = {key: post.get(key, "").strip() for key in SCALARS}
    return {**form, "guardrail_metrics": post.getlist("guardrail_metrics"), "variants": rows}


def create_body(form: dict[str, Any]) -> dict[str, Any]:
    """The API's create body: blank fields left out (their defaults apply), rows without a version skipped."""
    body = {key: form[key] for key in SCALARS if form[key]}
    body["guardrail_metrics"] = form["guardrail_metrics"]
    body["variants"] = [
        {key: value for key, value in row.items() if value} for row in form["variants"] if row["version"]
    ]
    return body


def checked(form: dict[str, Any]) -> dict[str, Any]:
    """The serializer's validated data, or InvalidInput naming each bad field (variants by number)."""
    serializer = ExperimentWriteSerializer(data=create_body(form))
    if serializer.is_valid():
        return dict(serializer.validated_data)
    problems = "; ".join(_problems(serializer.errors))
    raise InvalidInput(f"Check the form: {problems}.", details={"fields": serializer.errors})


def _problems(errors: Any, where: str = "") -> list[str]:
    if isinstance(errors, dict):
        found: list[str] = []
        for key, nested in errors.items():
            name = f"variant {key + 1}" if isinstance(key, int) else str(key).replace("_", " ")
            found += _problems(nested, f"{where} {name}".strip() if key != "non_field_errors" else where)
        return found
    if isinstance(errors, list) and errors and not isinstance(errors[0], (dict, list)):
        return [f"{where or 'form'}: {errors[0]}"]
    return [problem for nested in errors for problem in _problems(nested, where)]


def choices(membership: Membership) -> dict[str, Any]:
    """Presets with an approved version (nothing else can be a variant), units and metrics."""
    presets = preset_list_visible(membership=membership).filter(approved_version__isnull=False)
    return {
        "preset_choices": list(presets.order_by("name").only("pk", "name", "approved_version")[:200]),
        "unit_choices": Unit.choices,
        "metric_choices": Metric.choices,
    }
