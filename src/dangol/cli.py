"""The ``dangol`` command: Django management commands with friendly names and one-line errors.

    dangol migrate | createadmin | serve | worker | check | demo | openapi | ...

Any Django management command works too. Errors are one readable line and a non-zero exit;
set DANGOL_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import os
import sys

ALIASES = {"check": "dangol_check", "import": "import_data"}
USAGE = """usage: dangol <command> [options]

Commands:
  migrate                  create or upgrade the database
  createadmin              create an administrator (--email E --password P)
  serve                    run the web server (and, on SQLite, the job worker)
  worker                   run the job worker
  check                    check configuration, database and job queue
  demo                     load the demo company and serve it (--no-serve to only load)
  import <target> FILE     import customers, consents, products or orders (CSV, XLSX, JSONL, vCard)
  dedupe INPUT.csv         find duplicate people in a CSV (identity resolution)
  analytics clv            fit lifetime-value models on a transaction file
  openapi                  print or write the OpenAPI schema
  help <command>           options of a command
Any Django management command is available as well (dangol help --commands).
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dangol`` console script."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if args[0] == "help" and len(args) > 1 and not args[1].startswith("-"):
        args = [ALIASES.get(args[1], args[1]), "--help"]
    else:
        args[0] = ALIASES.get(args[0], args[0])
    debug = os.environ.get("DANGOL_DEBUG", "").lower() in ("1", "true", "yes", "on")
    try:
        import django
        from django.core.management import ManagementUtility

        django.setup()
        ManagementUtility(["dangol", *args]).execute()
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"dangol: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
