"""Our overrides of Django's locale formats (``FORMAT_MODULE_PATH``): one package per language,
each naming only what differs from Django's own; everything else falls through to Django."""
