"""The OpenAPI schema validates, its docs page works offline, and the pages follow the 404 rule."""

from __future__ import annotations

import subprocess
import sys

from django.urls import reverse

from tests.factories import UserFactory
from tests.server import ROOT


def test_openapi_schema_validates_without_warnings() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert '"/api/v1/orgs/{org_slug}/members/"' in result.stdout


def test_schema_and_docs_are_served(api, alice) -> None:
    client = api(alice)
    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "ApiKeyAuth" in schema.json()["components"]["securitySchemes"]
    docs = client.get(reverse("docs"))
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"//cdn" not in docs.content  # the assets are bundled: the machines have no internet


def test_home_opens_the_chat_of_my_organisation(client, alice) -> None:
    client.force_login(alice)
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/o/acme/chat/")


def test_home_without_an_organisation_says_what_to_do(client, db) -> None:
    client.force_login(UserFactory(username="loner"))
    response = client.get("/")
    assert response.status_code == 200
    assert b"not a member of any organisation" in response.content


def test_org_page_for_member_and_404_for_outsider(client, alice, carol) -> None:
    client.force_login(alice)
    assert client.get("/o/acme/")["Location"] == "/o/acme/chat/"
    client.force_login(carol)
    assert client.get("/o/acme/").status_code == 404


def test_login_page_renders(client, db) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content
