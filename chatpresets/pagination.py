from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.paginator import InvalidPage
from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

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


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        """A view may load its page and total itself (`view.page_loader`), e.g. in a single query."""
        loader: PageLoader | None = getattr(view, "page_loader", None)
        raw_number = request.query_params.get(self.page_query_param) or "1"
        if loader is None or raw_number in self.last_page_strings:
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        page_size = self.get_page_size(request)
        number = int(raw_number) if raw_number.isdigit() else 0
        if number < 1:
            raise NotFound(self.invalid_page_message.format(page_number=raw_number, message="That page is not valid."))
        items, total = loader(queryset, (number - 1) * page_size, page_size)
        try:
            self.page = DjangoPaginator(_KnownPage(items, total), page_size).page(number)
        except InvalidPage as error:
            raise NotFound(self.invalid_page_message.format(page_number=number, message=str(error))) from error
        return list(self.page)
