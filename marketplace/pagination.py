from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination


class KnownCount:
    """A queryset whose number of rows is already known (for example from a cache): Django's
    Paginator (and DRF's) takes `count()` from here instead of running a COUNT query."""

    def __init__(self, queryset: QuerySet, count: int) -> None:
        self.queryset = queryset
        self._count = count

    @property
    def ordered(self) -> bool:
        return self.queryset.ordered

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, key: Any) -> Any:
        return self.queryset[key]


class PageNumberPagination(pagination.PageNumberPagination):
    """`{"count", "next", "previous", "results"}`; `?page=`, `?page_size=` (25 by default, at most 100)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
