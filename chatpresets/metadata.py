"""DRF's OPTIONS answer, for views with one body serializer and for those without.

DRF's SimpleMetadata describes the POST/PUT body from `view.get_serializer()`, which asserts when
a view has no `serializer_class` (viewsets whose actions each take their own body, such as the
review actions): that was a 500 on OPTIONS. Those views describe their name and formats only.
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class Metadata(SimpleMetadata):
    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        # Imported here: DRF loads this class while rest_framework.views is still importing.
        from rest_framework.generics import GenericAPIView

        overridden = type(view).get_serializer_class is not GenericAPIView.get_serializer_class
        if getattr(view, "serializer_class", None) is None and not overridden:
            return {}
        return super().determine_actions(request, view)
