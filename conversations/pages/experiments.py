"""The experiments pages: the list with its create form, and one experiment's live results with its
actions (start or resume, pause, stop, promote), through the same selectors and services as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError, InvalidInput
from conversations.experiment_drafts import experiment_draft
from conversations.experiment_metrics import experiment_results
from conversations.pages import experiment_form
from presets.experiments import services
from presets.experiments.models import Experiment
from presets.experiments.selectors import experiments_visible
from presets.pages.access import refused
from presets.pages.listing import frame
from tenancy.models import Membership
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm, role_has

ACTIONS = {
    "start": services.experiment_start,
    "pause": services.experiment_pause,
    "stop": services.experiment_stop,
}


def experiment_of(membership: Membership, pk: Any) -> Experiment:
    experiment = experiments_visible(membership=membership).filter(pk=pk).first()
    if experiment is None:
        raise Http404("No such experiment")
    return experiment


@login_required
def experiment_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_READ)
    return render(request, "experiments/list.html", list_context(membership, form=experiment_form.blank_form()))


@require_POST
@login_required
def experiment_create(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The API's create: the same serializer and drafting rules; a refusal is shown in the form."""
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_WRITE)
    form = experiment_form.posted_form(request.POST)
    try:
        data = experiment_form.checked(form)
        experiment = experiment_draft(membership=membership, actor=request.user, data=data)
    except DomainError as error:
        context = list_context(membership, form=form, error=error)
        return render(request, "experiments/list.html", context, status=error.status_code)
    messages.success(request, f"{experiment.name} is drafted: start it when it is ready.")
    return redirect("experiment-page", org_slug=org_slug, pk=experiment.pk)


def list_context(membership: Membership, **extra: Any) -> dict[str, Any]:
    return frame(
        membership,
        experiments=experiments_visible(membership=membership)[:100],
        tab="experiments",
        **experiment_form.choices(membership),
        **extra,
    )


@login_required
def experiment_page(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    """The results; htmx asks again every few seconds for the results fragment alone."""
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_READ)
    experiment = experiment_of(membership, pk)
    context = frame(
        membership,
        experiment=experiment,
        results=results_of(experiment),
        may_review=role_has(membership.role, Perm.PRESETS_APPROVE),
        tab="experiments",
    )
    template = "experiments/_results.html" if request.headers.get("HX-Request") else "experiments/detail.html"
    return render(request, template, context)


@require_POST
@login_required
def experiment_act(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_APPROVE)
    experiment = experiment_of(membership, pk)
    action = request.POST.get("action", "")
    try:
        if action == "promote":
            variant = request.POST.get("variant", "")
            services.experiment_promote(experiment=experiment, actor=request.user, variant_name=variant)
        elif action in ACTIONS:
            ACTIONS[action](experiment=experiment, actor=request.user)
        else:
            raise InvalidInput("Unknown action.", details={"field": "action"})
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"{experiment.name}: {action} done.")
    return redirect("experiment-page", org_slug=org_slug, pk=experiment.pk)


def results_of(experiment: Experiment) -> dict[str, Any]:
    """The API's results, with each variant's metrics as rows for the table."""
    found = experiment_results(experiment=experiment)
    for row in found["variants"]:
        row["metric_rows"] = sorted(row["metrics"].items())
    return found
