"""The import pipeline: readers, column mapping, targets with set-based chunk writers."""

# ``targets`` registers the targets kept in their own modules (``targets_org`` ...), which build
# on it: loading it first, whichever module is asked for, keeps that import cycle harmless.
from dangol.integration.imports import targets as targets
