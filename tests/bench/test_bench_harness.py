"""The benchmark harness produces well-formed results. Timings are never asserted here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.db import connection

from bench import api_load, dataset, registry, runner


def test_targets_and_row_status():
    row = registry.Row(
        "detail", {"p95_ms": 12.0, "rps": 900.0}, targets=[registry.Target("p95_ms", "<", 20)]
    )
    assert row.status() is True
    row.targets.append(registry.Target("rps", ">=", 1000))
    assert row.status() is False
    assert registry.Row("x", {}, targets=[registry.Target("p95_ms", "<", 20)]).status() is None
    assert registry.Row("x", {"p95_ms": 1.0}).status() is None


def test_registering_a_benchmark_is_one_decorator():
    @registry.benchmark("_probe", title="probe", columns=[("n", "n")])
    def probe(ctx):
        return registry.Outcome(rows=[registry.Row("one", {"n": 1})])

    try:
        assert registry.REGISTRY["_probe"].func is probe
        with pytest.raises(ValueError, match="registered twice"):
            registry.benchmark("_probe", title="again", columns=[])(lambda ctx: registry.Outcome())
    finally:
        del registry.REGISTRY["_probe"]


def test_the_standard_benchmarks_are_discovered():
    names = [b.name for b in runner.discover()]
    assert set(names) >= {
        "queries", "pages", "api", "load_rate", "analytics", "imports", "segments"
    }  # fmt: skip
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="unknown benchmark"):
        runner.select(["nope"])


def test_one_database_per_engine_and_size(tmp_path):
    assert runner.database_url("sqlite", "small", var_dir=tmp_path) == (
        f"sqlite:///{tmp_path}/bench/small.sqlite3"
    )
    assert runner.database_url("postgres", "20_000", var_dir=tmp_path).endswith(
        "/dangol_bench_20000"
    )
    with pytest.raises(ValueError):
        runner.database_url("oracle", "small", var_dir=tmp_path)
    with pytest.raises(ValueError):
        runner.size_label("huge")


def test_an_already_loaded_database_can_be_benchmarked(tmp_path):
    env = {runner.DATABASE_ENV: "postgres://postgres@127.0.0.1:5432/dangol_large"}
    url = runner.database_url("postgres", "large", var_dir=tmp_path, env=env)
    assert url == env[runner.DATABASE_ENV]
    assert runner.database_label(url) == "dangol_large"
    with pytest.raises(ValueError, match="not a SQLite database"):
        runner.database_url("sqlite", "large", var_dir=tmp_path, env=env)
    env = {runner.DATABASE_ENV: f"sqlite:///{tmp_path}/large.sqlite3"}
    assert runner.database_url("sqlite", "large", var_dir=tmp_path, env=env) == (
        f"sqlite:///{tmp_path}/large.sqlite3"
    )
    assert runner.database_label(env[runner.DATABASE_ENV], tmp_path) == (
        "$DANGOL_VAR_DIR/large.sqlite3"
    )
    assert runner.database_url("sqlite", "large", var_dir=tmp_path, env={}).endswith(
        "/bench/large.sqlite3"
    )


@pytest.mark.django_db
def test_runner_writes_a_well_formed_result_on_a_tiny_dataset(tmp_path):
    dataset.service_dataset(12, seed=3)
    engine = "postgres" if connection.vendor == "postgresql" else "sqlite"
    ctx, info = runner.prepare(engine=engine, size="tiny", build=False, samples=3)
    try:
        results = runner.run_benchmarks(ctx, runner.select(["queries"]), log=lambda _s: None)
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    result = runner.build_result(ctx, info, results)
    json_path, md_path, _merged = runner.write_results(result, tmp_path)

    assert json_path.name.endswith(f"-{engine}-tiny.json")
    data = json.loads(json_path.read_text())
    assert data["customers"] == 12
    assert {"cores", "memory_gib", "database", "git_commit"} <= set(data["machine"])
    queries = data["benchmarks"]["queries"]
    assert queries["available"] is True
    cases = {r["case"]: r for r in queries["rows"]}
    assert set(cases) == {
        "detail",
        "list (filtered)",
        "search: name fragment",
        "search: e-mail prefix",
        "search: phone last 4",
    }
    for row in cases.values():
        assert row["values"]["requests"] == 3
        assert row["values"]["statuses"] == {"200": 3}
        assert row["values"]["queries_min"] > 0
        assert row["met"] in (True, False)
    md = md_path.read_text()
    assert "| case | requests | queries/request | p50 ms | p95 ms |" in md
    assert "p95 < 20 ms" in md


def test_an_unavailable_benchmark_says_so_in_the_table(tmp_path):
    result = {
        "date": "2025-01-01",
        "engine": "sqlite",
        "size": "small",
        "customers": 2000,
        "dataset": {"built": False, "generator": "reused"},
        "machine": {
            "cores": 2,
            "cpu": "cpu",
            "memory_gib": 4.0,
            "os": "Linux",
            "python": "3.11",
            "django": "5.2",
            "database": "SQLite 3",
            "git_commit": "abc",
        },
        "settings": {"seed": 42, "samples": 10, "users": 4, "duration_s": 1.0},
        "benchmarks": {
            "load_rate": {
                "title": "Data load rate",
                "columns": [["rows", "rows"]],
                **registry.Outcome.unavailable("the generator's loader").to_json(),
            }
        },
    }
    md = runner.render_markdown(result)
    assert "> not yet available: the generator's loader" in md
    docs = tmp_path / "performance.md"
    docs.write_text(
        "# P\n\n<!-- bench:sqlite-small:start -->\nold\n<!-- bench:sqlite-small:end -->\n"
    )
    assert runner.update_docs(result, docs)
    text = docs.read_text()
    assert "old" not in text
    assert "not yet available" in text
    assert text.count("<!-- bench:sqlite-small:start -->") == 1


def test_locust_statistics_are_read_per_endpoint(tmp_path: Path):
    csv = tmp_path / "x_stats.csv"
    csv.write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
        "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
        "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        "GET,GET /customers/{id},1200,0,12,14.5,3,90,2100,40.0,0.0,"
        "12,14,15,16,20,25,30,41,80,90,90\n"
        ",Aggregated,1200,0,12,14.5,3,90,2100,40.0,0.0,12,14,15,16,20,25,30,41,80,90,90\n"
    )
    rows = api_load.read_locust_stats(csv)
    assert rows[0] == {
        "name": "GET /customers/{id}",
        "method": "GET",
        "requests": 1200,
        "failures": 0,
        "rps": 40.0,
        "p50_ms": 12.0,
        "p95_ms": 25.0,
        "p99_ms": 41.0,
        "max_ms": 90.0,
    }
    assert rows[1]["name"] == "Aggregated"
