"""Each role may make exactly the calls docs/rbac.md lists for it, on every tenant route."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenancy.models import Role
from tests.openapi_schema import documented_statuses
from tests.routes import CALLS, Call, build_world

pytestmark = pytest.mark.usefixtures("fake_llm")  # chat routes call the model


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_role_may_make_call_only_when_matrix_allows_it(call: Call, role: str, acme, member_with_role, api) -> None:
    caller = member_with_role(role)
    world = build_world(acme, caller)
    client = api(caller)
    body = call.body(world) if call.body else None
    url = reverse(call.name, kwargs=call.kwargs(world)) + call.query
    response = getattr(client, call.method)(url, body, format=call.body_format)
    if not call.page:  # the schema documents every status the API really answers
        assert response.status_code in documented_statuses(url, call.method), response.status_code
    if role in call.allowed:
        assert response.status_code < 400, (response.status_code, getattr(response, "data", None))
    elif role in call.invisible_to:
        assert response.status_code == 404
    else:
        assert response.status_code == 403
        if not call.page:
            assert response.json()["error"]["code"] == "permission_denied"
