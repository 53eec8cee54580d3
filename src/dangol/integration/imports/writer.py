"""Set-based writing for imports (docs/adr/0002-bulk-loading.md, extended by 0005).

The writer lives in ``dangol.core.bulkwrite`` so that the domain apps' own bulk writers (the
customer change feed) use the same one without importing ``integration``; the import pipeline
keeps importing it from here.
"""

from dangol.core.bulkwrite import (
    IN_BATCH,
    TableWriter,
    allocate_ids,
    in_batches,
    in_keys,
    qn,
    update_rows,
)

__all__ = [
    "IN_BATCH",
    "TableWriter",
    "allocate_ids",
    "in_batches",
    "in_keys",
    "qn",
    "update_rows",
]
