"""The API root: mounts each domain's router under /api/v1 with auth and error handling."""

from __future__ import annotations

from ninja import NinjaAPI

from dangol.analytics.api import router as analytics_router
from dangol.analytics.segment_api import router as segment_router
from dangol.api import errors
from dangol.api.auth import SessionAuth, TokenAuth
from dangol.commerce.api import (
    order_router,
    payment_router,
    price_router,
    product_router,
    return_router,
)
from dangol.core.api import router as me_router
from dangol.customers.api import (
    changes_router,
    contact_router,
    interaction_router,
    merge_router,
    org_router,
)
from dangol.customers.api import router as customer_router
from dangol.integration.api import duplicate_router, export_router, quality_router
from dangol.integration.api import router as import_router
from dangol.sales.api import router as task_router

DESCRIPTION = """
The Dangol CRM API. Authenticate with a personal access token
(`Authorization: Bearer dg_...`, created at `POST /api/v1/me/tokens` or in the web app) or with
the staff app's session. Every list is cursor-paginated (`cursor`, `limit` ≤ 200, `next_cursor`);
POST requests honour `Idempotency-Key`; errors are `{code, message, errors: [{field, code,
message}]}`. A record you may not see answers 404, exactly like one that does not exist.
"""

api = NinjaAPI(
    title="Dangol API",
    version="1.0.0",
    description=DESCRIPTION,
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
)
errors.install(api)
api.add_router("/me", me_router)
api.add_router("/customers", customer_router)
api.add_router("/organizations", org_router)
api.add_router("/contact-points", contact_router)
api.add_router("/interactions", interaction_router)
api.add_router("/merges", merge_router)
api.add_router("/changes", changes_router)
api.add_router("/imports", import_router)
api.add_router("/duplicates", duplicate_router)
api.add_router("/quality", quality_router)
api.add_router("/exports", export_router)
api.add_router("/analytics", analytics_router)
api.add_router("/segments", segment_router)
api.add_router("/products", product_router)
api.add_router("/orders", order_router)
api.add_router("/payments", payment_router)
api.add_router("/returns", return_router)
api.add_router("/prices", price_router)
api.add_router("/tasks", task_router)
