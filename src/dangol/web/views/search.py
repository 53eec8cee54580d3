"""The global search box: results as you type (htmx), or a results page on Enter."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dangol.customers.selectors import search as search_customers
from dangol.customers.selectors import search_organizations

MAX_QUERY_LENGTH = 100
MIN_QUERY_LENGTH = 2  # the customers selector finds nothing for shorter queries
AS_YOU_TYPE_LIMIT = 8
PAGE_LIMIT = 50
ORGANIZATIONS_AS_YOU_TYPE = 3
ORGANIZATIONS_PAGE_LIMIT = 20


@login_required
def search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    as_you_type = request.headers.get("HX-Request") == "true"
    limit = AS_YOU_TYPE_LIMIT if as_you_type else PAGE_LIMIT
    results = search_customers(user=request.user, q=q, limit=limit)
    organizations = search_organizations(
        user=request.user,
        q=q,
        limit=ORGANIZATIONS_AS_YOU_TYPE if as_you_type else ORGANIZATIONS_PAGE_LIMIT,
    )
    template = "web/search/search.html#results" if as_you_type else "web/search/search.html"
    return render(
        request,
        template,
        {
            "q": q,
            "results": results,
            "organizations": organizations,
            "limit": limit,
            "min_length": MIN_QUERY_LENGTH,
        },
    )
