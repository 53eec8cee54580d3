"""Identity resolution (record linkage and deduplication) of people, Django-free.

``find_duplicate_pairs(records)`` finds the records in one frame that are the same person;
``link_records(new, existing)`` matches incoming records against existing ones. Both take a
Polars frame of text columns (see ``prepare.INPUT_COLUMNS``) and need no labels: the Splink
model is trained on the data itself. See docs/adr/0004-identity-resolution.md.
"""

from dangol.integration.matching.model import (
    DEFAULT_THRESHOLD,
    MemoryModelStore,
    ModelStore,
    cluster_ids,
    evidence_labels,
    find_duplicate_pairs,
    link_records,
    model_key,
)
from dangol.integration.matching.prepare import (
    INPUT_COLUMNS,
    prepare_records,
    read_records_csv,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "INPUT_COLUMNS",
    "MemoryModelStore",
    "ModelStore",
    "cluster_ids",
    "evidence_labels",
    "find_duplicate_pairs",
    "link_records",
    "model_key",
    "prepare_records",
    "read_records_csv",
]
