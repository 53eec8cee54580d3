"""The benchmark runner: dataset, context, the registered benchmarks, result files and docs.

``dangol bench`` (src/dangol/core/management/commands/bench.py) picks the database of the engine
and size, re-runs itself with ``DANGOL_DATABASE_URL`` pointing there and calls :func:`run`.
Everything here assumes Django is already set up on that database.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pkgutil
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import dataset
from bench.registry import Benchmark, Context, Outcome, registered

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOCS = REPO / "docs" / "performance.md"
PG_BASE = "postgres://postgres@127.0.0.1:5432"
ENGINES = {"sqlite": "sqlite", "postgres": "postgres", "postgresql": "postgres"}
ENGINE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
# Modules of bench/ that hold no benchmark (everything else is imported to register its own).
NOT_BENCHMARKS = {"runner", "registry", "dataset", "locustfile", "dedupe_quality"}
SCHEMA_VERSION = 1

Log = Callable[[str], None]


def discover() -> list[Benchmark]:
    """Import every benchmark module of bench/ (each registers its functions) and list them."""
    for mod in pkgutil.iter_modules([str(REPO / "bench")]):
        if mod.name not in NOT_BENCHMARKS and not mod.name.startswith("_"):
            importlib.import_module(f"bench.{mod.name}")
    return registered()


# --- databases --------------------------------------------------------------------------------


def engine_name(engine: str) -> str:
    """``sqlite`` or ``postgres`` (``postgresql`` accepted)."""
    try:
        return ENGINES[engine.lower()]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}: use sqlite or postgres") from None


def size_label(size: str) -> str:
    """The size as it appears in file and database names."""
    dataset.size_customers(size)  # validates
    return re.sub(r"[^0-9a-z]", "", size.lower())


# An already-loaded database to benchmark instead of the per-size one (e.g. a `large` dataset
# loaded once by `dangol demo --size large`): its URL, of the engine asked for.
DATABASE_ENV = "DANGOL_BENCH_DATABASE_URL"


def database_url(
    engine: str,
    size: str,
    *,
    var_dir: Path,
    pg_base: str = PG_BASE,
    env: dict[str, str] | None = None,
) -> str:
    """One database per engine and size: var/bench/<size>.sqlite3 or dangol_bench_<size>.

    ``DANGOL_BENCH_DATABASE_URL`` names an already-loaded database to use instead (it must be
    of ``engine``); it is reused like any other dataset, and only built if it has no customers.
    """
    label = size_label(size)
    given = (os.environ if env is None else env).get(DATABASE_ENV, "").strip()
    if given:
        kind = "sqlite" if given.startswith("sqlite:") else ""
        if given.startswith(("postgres://", "postgresql://")):
            kind = "postgres"
        if kind != engine_name(engine):
            wanted = ENGINE_NAMES[engine_name(engine)]
            raise ValueError(f"{DATABASE_ENV}={given!r} is not a {wanted} database")
        return given
    if engine_name(engine) == "postgres":
        return f"{pg_base.rstrip('/')}/dangol_bench_{label}"
    return f"sqlite:///{var_dir / 'bench' / f'{label}.sqlite3'}"


@contextmanager
def admin_pg(url: str) -> Iterator[Any]:
    """An autocommit connection to the server's ``postgres`` database (to create databases)."""
    import psycopg

    base = url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=10) as conn:
        yield conn


def ensure_database(url: str) -> None:
    """Create the SQLite directory or the PostgreSQL database if missing (never drops)."""
    if url.startswith("sqlite"):
        Path(url.split("sqlite:///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        return
    name = url.rsplit("/", 1)[1]
    with admin_pg(url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{name}"')


def child_env(url: str, var_dir: Path) -> dict[str, str]:
    """The environment of the benchmark process and everything it starts."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dangol.settings",
        "DANGOL_DATABASE_URL": url,
        "DANGOL_VAR_DIR": str(var_dir),
        "DANGOL_API_RATE_LIMIT": "0",
        "DANGOL_BENCH_CHILD": "1",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
        ),
    }


# --- machine ------------------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        out = subprocess.run(  # noqa: S603 - fixed command
            ["git", "-C", str(REPO), *args],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def machine_info() -> dict[str, Any]:
    """Cores, memory, CPU, OS, Python, Django, the database engine and the git commit."""
    import django

    mem_kib = 0
    cpu = platform.processor()
    try:
        meminfo = Path("/proc/meminfo").read_text()
        mem_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1).strip() if found else cpu
    except (OSError, AttributeError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    commit = _git("rev-parse", "--short=10", "HEAD")
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "load_average": load,  # 1, 5, 15 min: other work on the machine skews every figure
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": dataset.engine_version(),
        "git_commit": commit,
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


# --- running -----------------------------------------------------------------------------------


def select(only: list[str] | None) -> list[Benchmark]:
    """The registered benchmarks named in ``only`` (all when empty), in run order."""
    available = discover()
    if not only:
        return available
    names = {b.name for b in available}
    unknown = sorted(set(only) - names)
    if unknown:
        raise ValueError(
            f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(sorted(names))}"
        )
    return [b for b in available if b.name in only]


def prepare(
    *,
    engine: str,
    size: str,
    seed: int = 42,
    build: bool = True,
    log: Log = print,
    **settings: Any,
) -> tuple[Context, dict[str, Any]]:
    """Build or reuse the dataset, issue a token, pick the probes: the run's context.

    The engine is the one Django is connected to; ``engine`` is checked against it.
    """
    from django.conf import settings as django_settings
    from django.db import connection

    actual = "postgres" if connection.vendor == "postgresql" else "sqlite"
    if engine_name(engine) != actual:
        raise ValueError(f"asked for {engine} but connected to {actual}")
    info: dict[str, Any] = (
        dataset.ensure_dataset(size, seed=seed, log=log) if build else {"generator": "given"}
    )
    customers = dataset.customer_count()
    samples = int(settings.pop("samples", 200))
    state = {
        "token": dataset.bench_token(),
        "probes": dataset.probes(seed=seed, count=max(samples, 200)),
    }
    var_dir = Path(django_settings.VAR_DIR)
    url = str(getattr(django_settings, "DATABASE_URL", ""))
    ctx = Context(
        engine="postgres" if connection.vendor == "postgresql" else "sqlite",
        size=size,
        customers=customers,
        database_url=url,
        env=child_env(url, var_dir),
        repo=REPO,
        workdir=Path(tempfile.mkdtemp(prefix="dangol-bench-")),
        samples=samples,
        seed=seed,
        state=state,
        **{k: settings.pop(k) for k in ("duration", "users") if k in settings},
        options=settings,
    )
    info["customers"] = customers
    info["database"] = database_label(url, var_dir)
    return ctx, info


def database_label(url: str, var_dir: Path | None = None) -> str:
    """The database of a URL without credentials: a file path or a PostgreSQL database name."""
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if var_dir is not None and path.startswith(str(var_dir)):
            path = "$DANGOL_VAR_DIR" + path[len(str(var_dir)) :]
        return path
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def run_benchmarks(ctx: Context, benchmarks: list[Benchmark], log: Log = print) -> dict[str, Any]:
    """Run each benchmark; a failure is recorded in its result, never raised."""
    out: dict[str, Any] = {}
    ctx.state.setdefault("load_before", list(os.getloadavg()) if hasattr(os, "getloadavg") else [])
    for b in benchmarks:
        log(f"== {b.name}: {b.title}")
        started = datetime.datetime.now(datetime.UTC)
        try:
            outcome = b.func(ctx)
        except Exception as exc:  # a broken benchmark must not hide the others' results
            outcome = Outcome(available=False, notes=[f"failed: {type(exc).__name__}: {exc}"])
        seconds = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
        out[b.name] = {
            "title": b.title,
            "columns": [list(c) for c in b.columns],
            "seconds": round(seconds, 1),
            **outcome.to_json(),
        }
    return out


def build_result(
    ctx: Context, dataset_info: dict[str, Any], results: dict[str, Any]
) -> dict[str, Any]:
    """The JSON document of one run."""
    now = datetime.datetime.now().astimezone()
    return {
        "schema": SCHEMA_VERSION,
        "date": now.date().isoformat(),
        "finished_at": now.isoformat(timespec="seconds"),
        "engine": ctx.engine,
        "size": ctx.size,
        "customers": ctx.customers,
        "dataset": dataset_info,
        "machine": {
            **machine_info(),
            "load_average_at_start": [round(x, 2) for x in ctx.state.get("load_before", [])],
        },
        "settings": {
            "duration_s": ctx.duration,
            "samples": ctx.samples,
            "users": ctx.users,
            "seed": ctx.seed,
            **{k: v for k, v in ctx.options.items() if v is not None},
        },
        "benchmarks": results,
    }


def result_paths(result: dict[str, Any], results_dir: Path = RESULTS) -> tuple[Path, Path]:
    """``<date>-<engine>-<size>.json`` and ``.md``."""
    stem = f"{result['date']}-{result['engine']}-{size_label(str(result['size']))}"
    return results_dir / f"{stem}.json", results_dir / f"{stem}.md"


def write_results(
    result: dict[str, Any], results_dir: Path = RESULTS, *, merge: bool = False
) -> tuple[Path, Path, dict[str, Any]]:
    """Write the JSON and the Markdown table; with ``merge``, keep other benchmarks of the day."""
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = result_paths(result, results_dir)
    if merge and json_path.exists():
        try:
            earlier = json.loads(json_path.read_text(encoding="utf-8"))
            result = {
                **result,
                "benchmarks": {**earlier.get("benchmarks", {}), **result["benchmarks"]},
            }
        except (ValueError, OSError):
            pass
    json_path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(result), encoding="utf-8")
    return json_path, md_path, result


# --- Markdown ------------------------------------------------------------------------------------


def fmt(value: Any, key: str = "") -> str:
    """A cell: thousands separators, sensible decimals, percentages for shares."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if key.endswith("share"):
            return f"{value * 100:.0f} %"
        if key == "ratio":
            return f"{value:.2f}"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.1f}"
    return str(value).replace("|", "\\|")


def render_benchmark(name: str, b: dict[str, Any], level: str = "####") -> list[str]:
    """One benchmark's table (or its "not yet available" line)."""
    lines = [f"{level} {name} — {b['title']}", ""]
    if not b.get("available", True):
        lines += [f"> {n}" for n in b.get("notes", [])] or ["> not available"]
        return [*lines, ""]
    columns = [tuple(c) for c in b["columns"]]
    headers = ["case", *(h for _k, h in columns), "goal", "met"]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(columns) + ["---", ":-:"]) + "|")
    for r in b["rows"]:
        headers_by_key = dict(columns)
        goal = ", ".join(
            _target_label(t, headers_by_key.get(t["key"], t["key"])) for t in r.get("targets", [])
        )
        met = r.get("met")
        cells = [fmt(r["case"]), *(fmt(r["values"].get(k), k) for k, _h in columns)]
        cells += [goal or "", {True: "yes", False: "**no**", None: ""}[met]]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    notes = [f"{r['case']}: {r['note']}" for r in b["rows"] if r.get("note")]
    notes += b.get("notes", [])
    lines += [f"> {n}" for n in notes]
    if notes:
        lines.append("")
    return lines


def _target_label(t: dict[str, Any], header: str) -> str:
    unit = f" {t['unit']}" if t.get("unit") else ""
    if t.get("unit") and header.endswith(t["unit"]):
        header = header[: -len(t["unit"])].rstrip()
    return f"{header} {t['op']} {t['limit']:,g}{unit}".strip()


def render_markdown(result: dict[str, Any], level: str = "###") -> str:
    """The run as Markdown: machine, dataset, then one table per benchmark."""
    m = result["machine"]
    engine = ENGINE_NAMES.get(result["engine"], result["engine"])
    ds = result.get("dataset", {})
    built = (
        f"built by `{ds.get('generator')}` in {ds.get('seconds', 0):,.0f} s"
        if ds.get("built")
        else "reused (already had customers)"
    )
    s = result["settings"]
    lines = [
        f"{level} {engine}, {result['size']} ({result['customers']:,} customers) — "
        f"{result['date']}",
        "",
        f"- Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB RAM, {m['os']}",
        f"- Load average (1 min) at start / end: {_load(m, 'load_average_at_start')} / "
        f"{_load(m, 'load_average')} — anything above 0 is other work competing for the cores",
        f"- Software: Python {m['python']}, Django {m['django']}, {m['database']}",
        f"- Code: git {m['git_commit'] or 'unknown'}"
        + (" with uncommitted changes in the tree" if m.get("git_dirty") else ""),
        f"- Dataset: {built}; seed {s.get('seed')}"
        + (f"; database `{ds['database']}`" if ds.get("database") else ""),
        f"- Settings: {s.get('samples')} in-process samples per case; API load "
        f"{s.get('users')} clients × {s.get('duration_s', 0):.0f} s per phase",
        "",
    ]
    for name, b in result["benchmarks"].items():
        lines += render_benchmark(name, b, level + "#")
    return "\n".join(lines).rstrip() + "\n"


def _load(m: dict[str, Any], key: str) -> str:
    values = m.get(key) or []
    return f"{values[0]:.1f}" if values else "?"


def update_docs(result: dict[str, Any], docs: Path = DOCS) -> bool:
    """Replace this engine+size's section of docs/performance.md (between its markers)."""
    if not docs.exists():
        return False
    key = f"{result['engine']}-{size_label(str(result['size']))}"
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    text = docs.read_text(encoding="utf-8")
    block = f"{start}\n{render_markdown(result)}{end}"
    if start in text and end in text:
        text = re.sub(
            re.escape(start) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S
        )
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    docs.write_text(text, encoding="utf-8")
    return True


# --- the whole run ----------------------------------------------------------------------------


def run(
    *,
    engine: str,
    size: str,
    only: list[str] | None = None,
    duration: float = 30.0,
    samples: int = 200,
    users: int = 16,
    seed: int = 42,
    docs: bool = True,
    results_dir: Path = RESULTS,
    log: Log = print,
    **options: Any,
) -> dict[str, Any]:
    """Dataset, benchmarks, result files; prints the Markdown. Django must be set up already."""
    benchmarks = select(only)
    ctx, info = prepare(
        engine=engine,
        size=size,
        seed=seed,
        log=log,
        samples=samples,
        duration=duration,
        users=users,
        **options,
    )
    try:
        results = run_benchmarks(ctx, benchmarks, log)
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    result = build_result(ctx, info, results)
    json_path, md_path, merged = write_results(result, results_dir, merge=bool(only))
    log("")
    log(render_markdown(merged))
    log(f"Results: {json_path} and {md_path}")
    complete = {b.name for b in registered()} <= set(merged["benchmarks"])
    if docs and complete and update_docs(merged):  # a partial run completing the day's file too
        log(f"Updated {DOCS.relative_to(REPO)}")
    return merged
