"""Views of the staff app. The error handlers are exported here for ``handler403/404/500``."""

from dangol.web.views.errors import bad_request, page_not_found, permission_denied, server_error

__all__ = ["bad_request", "page_not_found", "permission_denied", "server_error"]
