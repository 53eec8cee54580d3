"""The import run: read → map → check → write, chunk by chunk, each chunk one transaction.

A chunk's domain rows, its rejected rows, the job's counters and ``last_committed_line`` are
committed together, so an interrupted job resumes after the last committed line and never
leaves half a row (or half an order) behind. Memory is bounded by the chunk size.

A large load runs in *bulk mode* (ADR 0005 §13): the target tables' secondary indexes are dropped
before the first chunk and rebuilt once after the last (``core.bulkwrite.deferred_indexes``,
durable: a job killed in between rebuilds them when it resumes, and any later import rebuilds
those of an abandoned job). Work a target owes once per file (an order file's purchase
aggregates) runs after the last chunk, and also when the job fails.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import gc
import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from dangol.core import bulkwrite
from dangol.core.models import ChangeLog
from dangol.core.visibility import Action, Scope, scope_for
from dangol.customers.models import Customer
from dangol.integration.imports.identity import Matcher, get_matcher
from dangol.integration.imports.mapping import CompiledMapping, auto_mapping, compile_mapping
from dangol.integration.imports.readers import Reader, Record, column_of
from dangol.integration.imports.targets import TARGETS, Context, Row, Target, job_owner
from dangol.integration.models import (
    ImportJob,
    ImportRowError,
    ImportStatus,
    RowOutcome,
)

CHUNK_SIZE = 20_000  # rows per transaction; peak RSS stays well under 200 MB (ADR 0005)
PREVIEW_ROWS = 20
GC_EVERY = 1  # chunks between collections of cyclic garbage (see _no_cyclic_gc)
BULK_MIN_ROWS = 50_000  # bulk mode (deferred indexes) only for files of at least this many rows
ABANDONED_AFTER = datetime.timedelta(hours=1)  # a running job silent this long is dead
COUNTER = {
    RowOutcome.CREATED: "created_count",
    RowOutcome.UPDATED: "updated_count",
    RowOutcome.MATCHED: "matched_count",
    RowOutcome.UNCHANGED: "unchanged_count",
    RowOutcome.REJECTED: "rejected_count",
}
Progress = Callable[[ImportJob], None]


@contextlib.contextmanager
def open_file(job: ImportJob) -> Iterator[IO[bytes]]:
    """The job's file, opened for binary reading (an upload or, from the CLI, a local path)."""
    if job.file:
        job.file.open("rb")
        try:
            yield job.file.file
        finally:
            job.file.close()
    else:
        with open(job.local_path, "rb") as f:
            yield f


def target_for(job: ImportJob) -> type[Target]:
    from dangol.core.errors import ValidationFailed

    target = TARGETS.get(job.target)
    if target is None:
        raise ValidationFailed.single(
            "target", "not_supported", _("Importing this target is not supported yet.")
        )
    return target


def effective_mapping(job: ImportJob, header: list[str]) -> CompiledMapping:
    """The job's mapping (or one guessed from the header) checked against its target."""
    target = target_for(job)
    mapping = job.mapping or auto_mapping(header, target.specs)
    return compile_mapping(mapping, job.transforms or {}, target.specs)


def _rows(target: Target, mapping: CompiledMapping, records: list[Record]) -> list[Row]:
    """The chunk's records checked: column by column (``Target.clean_columns``), in file
    order."""
    good = [rec for rec in records if not rec.invalid]
    columns = mapping.apply_columns(functools.partial(column_of, good), len(good))
    cleaned = iter(target.clean_columns(columns, len(good)))
    if len(good) == len(records):
        return [
            Row(rec.line, rec.raw, data, reasons)
            for rec, (data, reasons) in zip(records, cleaned, strict=True)
        ]
    out = []
    for rec in records:
        if rec.invalid:
            out.append(
                Row(
                    rec.line,
                    rec.raw,
                    {},
                    [
                        {
                            "field": "",
                            "code": "invalid_json",
                            "message": _("This line is not a JSON object."),
                        }
                    ],
                )
            )
            continue
        data, reasons = next(cleaned)
        out.append(Row(rec.line, rec.raw, data, reasons))
    return out


def _chunks(
    reader: Iterable[Record], mapping: CompiledMapping, group_field: str, size: int, after_line: int
) -> Iterator[list[Record]]:
    """Records in chunks of ``size``; a group (an order's lines) is never split."""
    chunk: list[Record] = []
    column = next((c for c, f in reversed(mapping.columns) if f == group_field), None)
    for rec in reader:
        if rec.line <= after_line:
            continue
        if len(chunk) >= size:
            if column is None:
                yield chunk
                chunk = []
            else:  # carry the last group over to the next chunk
                key = column_of([rec], column)[0].strip()
                if key != column_of(chunk[-1:], column)[0].strip():
                    yield chunk
                    chunk = []
        chunk.append(rec)
    if chunk:
        yield chunk


def _context(
    job: ImportJob, *, dry_run: bool, matcher: Matcher | None, fields: set[str]
) -> Context:
    actor = job.created_by
    visible = None
    owner_id = team_id = None
    if actor is not None and not actor.is_superuser:
        if scope_for(actor, "customers.customer", Action.CHANGE) != Scope.ALL:
            visible = Customer.objects.visible_to(actor, Action.CHANGE)
        if scope_for(actor, "customers.customer", Action.ADD) != Scope.ALL:
            owner_id, team_id = actor.pk, actor.team_id  # so they see what they imported
    return Context(
        job_id=job.pk,
        source=job.source,
        actor=actor,
        now=timezone.now(),
        dry_run=dry_run,
        fields=fields,
        matcher=matcher or get_matcher(),
        visible_customers=visible,
        owner_id=owner_id,
        team_id=team_id,
    )


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector off while chunks are built (it is collected once after each
    chunk instead). A chunk holds hundreds of thousands of live objects (records, rows, parsed
    values), which the collector would otherwise traverse again and again while they are
    created; they are freed by reference counting as soon as the chunk is committed. What a
    chunk leaves in cycles is collected after it (``GC_EVERY``): few objects, but collecting
    only every 10 chunks kept ≈ 90 MB more heap for the same CPU time (measured).

    The objects alive when the run starts (modules, Django, Polars: several hundred thousand)
    are frozen (``gc.freeze``) for the run: a full collection after a chunk then traverses only
    what the run made, not the whole program (it took ≈ 0.37 s per chunk of 20,000 customers,
    a fifth of the chunk's CPU, profiled)."""
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


_END: Any = object()


@contextlib.contextmanager
def _read_ahead(items: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """``items`` produced one ahead in a thread: the next chunk is read and checked while the
    current one is written (ADR 0005 §14). Reading and checking touch no database; the writes
    stay in the caller's thread, on its connection and in its transactions. The two overlap
    wherever the writer waits outside the interpreter: SQLite's ``sqlite3_step`` and commit,
    PostgreSQL's server work behind the socket, Polars. The thread runs in the caller's
    language and time zone (the rejection reasons are translated when the row is checked).

    An exception in the thread is raised in the caller at the item it would have produced;
    leaving the block early (a cancelled job, a failed chunk) stops the thread before the file
    is closed."""
    ready: queue.Queue[tuple[BaseException | None, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()
    language, zone = translation.get_language(), timezone.get_current_timezone()

    def produce() -> None:
        with translation.override(language), timezone.override(zone):
            try:
                for item in items:
                    if stop.is_set():
                        return
                    ready.put((None, item))
                ready.put((None, _END))
            except BaseException as exc:  # handed to the caller's thread
                ready.put((exc, None))

    def consume() -> Iterator[Any]:
        while True:
            error, item = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item

    thread = threading.Thread(target=produce, name="dangol-import-read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        while thread.is_alive():  # free a put blocked on the full queue, then let it end
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        thread.join()


def _owner(job: ImportJob) -> str:
    """The owner name of the job's durable markers (deferred indexes, per-file work)."""
    return job_owner(job.pk)


def _table_rows_up_to(model: type[Any], cap: int) -> int:
    """The rows of ``model``'s table, counted up to ``cap`` (cheap whatever the table's size)."""
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT %s) t", [cap])  # noqa: S608
        return int(cursor.fetchone()[0])


def bulk_models(
    job: ImportJob, target: Target, records: int, bytes_read: int, bulk: bool | None
) -> list[type[Any]]:
    """The tables whose secondary indexes this run defers, or none (normal mode).

    ``bulk`` True/False forces the mode; None decides: the file's rows (estimated from the first
    chunk's bytes per row) must be at least ``BULK_MIN_ROWS`` and at least the rows already in
    the table (a first load, or one that doubles the table): then building the indexes once at
    the end is cheaper than maintaining them row by row. A table is only deferred when the file
    is at least its size, so an order file does not rebuild a large customer table's indexes for
    a few customers. Never for a dry run, nor for a target without ``bulk_models``."""
    if job.dry_run or bulk is False or not target.bulk_models:
        return []
    estimate = records
    if bytes_read and job.total_bytes > bytes_read:
        estimate = int(records * job.total_bytes / bytes_read)
    if bulk is None and estimate < BULK_MIN_ROWS:
        return []
    return [m for m in target.bulk_models if bulk or _table_rows_up_to(m, estimate + 1) <= estimate]


def _alive(owner: str, current: ImportJob | None) -> bool:
    """Whether the job owning a marker will still do its work itself: the current one, a queued
    one, or one running and heard from within ``ABANDONED_AFTER``."""
    prefix = "integration.importjob:"
    if not owner.startswith(prefix):
        return True  # not an import's (the demo loader's): not ours to finish
    pk = int(owner[len(prefix) :])
    if current is not None and pk == current.pk:
        return True
    job = ImportJob.objects.filter(pk=pk).only("status", "updated_at").first()
    return job is not None and (
        job.status == ImportStatus.QUEUED
        or (
            job.status == ImportStatus.RUNNING and job.updated_at > timezone.now() - ABANDONED_AFTER
        )
    )


def restore_abandoned(current: ImportJob | None = None) -> list[str]:
    """Run the per-file work (purchase aggregates) and rebuild the deferred indexes of import
    jobs that will not do it themselves: completed, failed or cancelled ones (whose own
    attempt failed), deleted ones, and running ones silent for ``ABANDONED_AFTER`` (a killed
    process). Called at the start of every import run. Returns the owners finished."""
    from dangol.integration.imports.targets import OWED, finish_owed

    owners = set(bulkwrite.open_markers(bulkwrite.INDEXES)) | set(bulkwrite.open_markers(OWED))
    done = []
    for owner in sorted(owners):
        if _alive(owner, current):
            continue
        finish_owed(owner)
        bulkwrite.restore_indexes(owner)
        done.append(owner)
    return done


@dataclass
class ChunkResult:
    first_line: int
    last_line: int
    counts: dict[str, int]


def log_chunk(
    job: ImportJob, ctx: Context, lines: tuple[int, int], counts: dict[str, int], **extra: Any
) -> None:
    """The audit row of a committed chunk (``import.chunk_committed``: its line range and
    counts), in the chunk's transaction; no per-row audit."""
    ChangeLog.objects.create(
        actor_id=ctx.actor.pk if ctx.actor else None,
        action="import.chunk_committed",
        object_type="integration.importjob",
        object_id=str(job.pk),
        object_repr=str(job)[:200],
        after={
            "target": job.target,
            "source": job.source,
            "lines": list(lines),
            **extra,
            **counts,
        },
    )


def _commit_chunk(
    job: ImportJob, target: Target, ctx: Context, rows: list[Row], last_line: int, bytes_read: int
) -> ChunkResult:
    """Write one chunk, its rejected rows and the job's progress in one transaction."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No wait for the WAL flush at each chunk's commit (a quarter of an order chunk's
            # time, measured): a crash can lose only the last chunks *with* their
            # ``last_committed_line``, in commit order, so the resumed job redoes exactly them;
            # the job's completion is a normal (flushed) commit, which flushes them all.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        target.write(ctx, rows)
        counts = dict.fromkeys(COUNTER.values(), 0)
        errors = []
        for row in rows:
            outcome = row.outcome or RowOutcome.REJECTED
            counts[COUNTER[RowOutcome(outcome)]] += 1
            if outcome == RowOutcome.REJECTED:
                errors.append(
                    ImportRowError(job_id=job.pk, line=row.line, raw=row.raw, reasons=row.reasons)
                )
        ImportRowError.objects.bulk_create(errors, batch_size=1000)
        result = ChunkResult(rows[0].line if rows else 0, last_line, counts)
        if not ctx.dry_run and len(errors) < len(rows):
            log_chunk(job, ctx, (result.first_line, last_line), counts)
        ImportJob.objects.filter(pk=job.pk).update(
            rows_read=F("rows_read") + len(rows),
            last_committed_line=last_line,
            processed_bytes=bytes_read,
            updated_at=timezone.now(),
            **{name: F(name) + n for name, n in counts.items() if n},
        )
    return result


def run(
    job: ImportJob,
    *,
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    matcher: Matcher | None = None,
    progress: Progress | None = None,
    bulk: bool | None = None,
) -> ImportJob:
    """Import (or, with ``dry_run``, only check and classify) the job's file from where it
    stopped. Returns the job with its final counters. ``bulk``: True / False forces bulk mode
    (deferred indexes) on or off, None chooses it for a large file (``bulk_models``); a job
    that was running in bulk mode resumes in it."""
    target_cls = target_for(job)
    if not dry_run:
        restore_abandoned(job)
    with open_file(job) as f:
        reader = Reader(f, job.format, job.encoding)
        records = iter(reader)
        first = next(records, None)
        if not job.encoding and reader.encoding:
            job.encoding = reader.encoding
        job.header = reader.header
        ImportJob.objects.filter(pk=job.pk).update(encoding=job.encoding, header=job.header)
        mapping = effective_mapping(job, reader.header)
        target = target_cls(mapping.fields)
        ctx = _context(job, dry_run=dry_run, matcher=matcher, fields=mapping.fields)

        everything = itertools.chain([first] if first is not None else [], records)
        chunks = _chunks(
            everything, mapping, target.group_field, chunk_size, job.last_committed_line
        )
        with contextlib.ExitStack() as stack:
            stack.enter_context(_no_cyclic_gc())
            head = next(chunks, None)
            resumed = bool(bulkwrite.open_markers(bulkwrite.INDEXES, _owner(job)))
            deferred = (
                []
                if head is None and not resumed
                else bulk_models(
                    job, target, len(head or ()), reader.bytes_read, True if resumed else bulk
                )
            )
            if deferred or resumed:
                ctx.bulk = stack.enter_context(
                    bulkwrite.deferred_indexes(
                        _owner(job), deferred, unique=False, keep=target.bulk_keep,
                        **target.bulk_statements(deferred),
                    )
                )  # fmt: skip
            if not dry_run:
                # per-file work (aggregates) before the indexes come back, even on failure
                stack.callback(target.finish, ctx, _owner(job))
            checked = stack.enter_context(
                _read_ahead(
                    (_rows(target, mapping, chunk), chunk[-1].line, reader.bytes_read)
                    for chunk in itertools.chain([head] if head is not None else [], chunks)
                )
            )
            del head  # the chain has it: not kept for the whole run once written
            for done, (rows, last_line, bytes_read) in enumerate(checked, 1):
                _commit_chunk(job, target, ctx, rows, last_line, bytes_read)
                del rows
                if done % GC_EVERY == 0:
                    gc.collect()  # what the chunk left in reference cycles
                job.refresh_from_db()
                if progress is not None:
                    progress(job)
                if job.status == ImportStatus.CANCELLED:
                    # over for good (a cancelled job starts again from the top): its per-file
                    # records are not needed (its duplicates are left to the duplicate search)
                    target.discard(job.pk)
                    return job
            # every chunk committed (not after a failure or a cancel), for a dry run too: e.g.
            # rows whose parent came later in the file (a dry run's target writes no domain row)
            target.after_file(ctx)
            target.discard(job.pk)  # the file is done: its per-file records too
            ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now())
        ImportJob.objects.filter(pk=job.pk).update(
            processed_bytes=job.total_bytes or reader.bytes_read, header=reader.header
        )
    job.refresh_from_db()
    return job


def check_references(job: ImportJob, target: Target, fields: set[str], rows: list[Row]) -> None:
    """The dry run's checks on ``rows`` (the preview's): the target's ``write`` with
    ``dry_run``, whose lookups reject rows naming unknown customers, orders, products or
    organizations, in a transaction rolled back so that nothing is written whatever a target
    does."""
    ctx = _context(job, dry_run=True, matcher=None, fields=fields)
    with transaction.atomic():
        target.write(ctx, rows)
        transaction.set_rollback(True)


def preview(job: ImportJob, *, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    """The header, the mapping in use and the first ``rows`` rows checked (nothing is written)."""
    target_cls = target_for(job)
    with open_file(job) as f:
        reader = Reader(f, job.format, job.encoding)
        records: list[Record] = []
        for rec in reader:
            records.append(rec)
            if len(records) >= rows:
                break
        header = reader.header
        mapping = job.mapping or auto_mapping(header, target_cls.specs)
        compiled = effective_mapping(job, header)
        target = target_cls(compiled.fields)
        checked = _rows(target, compiled, records)
        check_references(job, target, compiled.fields, checked)
        return {
            "encoding": reader.encoding,
            "header": header,
            "mapping": mapping,
            "fields": [s.name for s in target_cls.specs],
            "rows": [
                {
                    "line": r.line,
                    "values": compiled.apply(rec.values) if not rec.invalid else {},
                    "data": r.data,
                    "valid": not r.reasons,
                    "errors": r.reasons,
                }
                for r, rec in zip(checked, records, strict=True)
            ],
        }


__all__ = ["CHUNK_SIZE", "open_file", "preview", "restore_abandoned", "run"]
