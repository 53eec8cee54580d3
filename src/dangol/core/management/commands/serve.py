"""``dangol serve``: the production web server (gunicorn), plus the job worker on SQLite.

With SQLite and no Redis, the job queue lives next to the database on this machine, so the
worker is started as a child process in the same process group and stopped with the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from dangol.wsgi import application

        return application


def default_workers() -> int:
    return int(os.environ.get("DANGOL_WEB_WORKERS", min(2 * (os.cpu_count() or 1) + 1, 9)))


class Command(BaseCommand):
    help = "Serve Dangol with gunicorn (and a job worker when the queue is local)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("DANGOL_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("DANGOL_PORT", 8000)))
        parser.add_argument("--workers", type=int, default=default_workers())
        parser.add_argument(
            "--threads", type=int, default=int(os.environ.get("DANGOL_WEB_THREADS", 4))
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Do not start the job worker here."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
            # Hashed static names need the manifest; build it once for this var directory.
            call_command("collectstatic", interactive=False, verbosity=0)
        worker: subprocess.Popen[bytes] | None = None
        if not settings.REDIS_URL and not opts["no_worker"]:
            worker = subprocess.Popen(
                [sys.executable, "-m", "dangol.cli", "worker"], start_new_session=False
            )
        self.stdout.write(f"Dangol is serving on http://{opts['host']}:{opts['port']}/")
        try:
            _Gunicorn(
                {
                    "bind": f"{opts['host']}:{opts['port']}",
                    "workers": opts["workers"],
                    "worker_class": "gthread",
                    "threads": opts["threads"],
                    "accesslog": os.environ.get("DANGOL_ACCESS_LOG", None),
                    "errorlog": "-",
                    "loglevel": "warning",
                    "timeout": 60,
                    "graceful_timeout": 20,
                    "keepalive": 5,
                    "max_requests": 10000,
                    "max_requests_jitter": 1000,
                    "proc_name": "dangol",
                }
            ).run()
        finally:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
