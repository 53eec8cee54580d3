"""The landing page after sign-in."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dangol.web.selectors import dashboard_counts


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home/home.html", {"counts": dashboard_counts(user=request.user)})
