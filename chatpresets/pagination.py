from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.paginator import InvalidPage
from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request

LAST_OFFSET = 2**63 - 1
PageLoader = Callable[[QuerySet, int, int], tuple[list[Any], int]]


class _KnownPage(Sequence):
    """One page already loaded with the total beside it, shaped as Django's Paginator expects."""

    def __init__(self, items: list[Any], total: int) -> None:
        self.items, self.total = items, total

    def count(self) -> int:  # type: ignore[override]  # Paginator calls count() for the total
        return self.total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, index: Any) -> Any:
        return self.items if isinstance(index, slice) else self.items[index]


def _is_whole_number(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and int(raw) >= 1


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters

    def _check_page_parameters(self, request: Request) -> None:
        """`page` and `page_size`, when given, are whole numbers of at least 1 (or `page=last`).

        DRF alone reads `?page=` as page 1 and `?page_size=x` as the default size, accepting what
        the schema refuses. An ill-formed page is the same 404 as one past the end, as DRF answers.
        """
        page = request.query_params.get(self.page_query_param)
        if page is not None and page not in self.last_page_strings and not _is_whole_number(page):
            raise NotFound(self.invalid_page_message.format(page_number=page, message="That page is not valid."))
        size = request.query_params.get(self.page_size_query_param)
        if size is not None and not _is_whole_number(size):
            raise ValidationError({self.page_size_query_param: ["A whole number of at least 1."]})

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        """A view may load its page and total itself (`view.page_loader`), e.g. in a single query."""
        self._check_page_parameters(request)
        loader: PageLoader | None = getattr(view, "page_loader", None)
        raw_number = request.query_params.get(self.page_query_param) or "1"
        if loader is None or raw_number in self.last_page_strings:
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        page_size = self.get_page_size(request)
        number = int(raw_number) if raw_number.isdigit() else 0
        # A page whose offset PostgreSQL's bigint cannot hold is past the end of any list, not a DataError.
        if number < 1 or (number - 1) * page_size > LAST_OFFSET:
            raise NotFound(self.invalid_page_message.format(page_number=raw_number, message="That page is not valid."))
        items, total = loader(queryset, (number - 1) * page_size, page_size)
        try:
            self.page = DjangoPaginator(_KnownPage(items, total), page_size).page(number)
        except InvalidPage as error:
            raise NotFound(self.invalid_page_message.format(page_number=number, message=str(error))) from error
        return list(self.page)


class NewestFirstCursorPagination(CursorPagination):
    """Newest first on (created_at, id), paged by an opaque cursor: stable while rows are appended.

    For append-only lists (the audit trail): a new row never shifts a page already read, unlike page
    numbers. A cursor that does not decode, or whose position is not an instant, is a 400 naming
    `cursor`, not DRF's 404 or a database error; `page_size` follows the page-number rule.
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        size = request.query_params.get(self.page_size_query_param)
        if size is not None and not _is_whole_number(size):
            raise ValidationError({self.page_size_query_param: ["A whole number of at least 1."]})
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None and parse_datetime(cursor.position) is None:
                raise NotFound(self.invalid_cursor_message)
        except (NotFound, ValueError):
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None
        return cursor

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1  # larger sizes are read as max_page_size, as DRF does
        return parameters
