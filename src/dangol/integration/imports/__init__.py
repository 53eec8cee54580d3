"""The import pipeline: readers, column mapping, targets with set-based chunk writers."""
