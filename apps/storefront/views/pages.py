"""Public pages: home and the partner directory."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.organizations.selectors import organization_directory

DIRECTORY_PAGE_SIZE = 20


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "storefront/home.html")


def partners(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    page = Paginator(organization_directory(query=query), DIRECTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "storefront/partners/directory.html", {"page": page, "query": query, "nav": "partners"})
