"""The landing page after sign-in: what needs the user today."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dangol.web import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Counts of what the user can see, their open tasks, and valuable customers at risk."""
    user = request.user
    counts = selectors.dashboard_counts(user=user)
    context = {
        "counts": counts,
        "tasks": selectors.my_tasks(user=user),
        "at_risk": selectors.customers_at_risk(user=user, visible_customers=counts.customers),
    }
    return render(request, "web/home/home.html", context)
