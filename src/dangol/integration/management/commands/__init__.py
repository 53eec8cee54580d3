"""`dangol dedupe` and the other integration commands."""
