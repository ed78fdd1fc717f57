"""The schema and its Swagger UI page, answering OPTIONS and refusals in the one JSON error shape."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response


class JsonRefusalsMixin:
    """These views' renderers (YAML, the Swagger page's template) can only render a schema or the
    page: DRF would render a 405 as YAML and OPTIONS metadata through the template (a 500)."""

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        if request.method == "OPTIONS" or response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class SchemaView(JsonRefusalsMixin, SpectacularAPIView):
    pass


class SchemaDocsView(JsonRefusalsMixin, SpectacularSwaggerSplitView):
    """Its script is a second request (`?script`), so the page needs no inline script."""
