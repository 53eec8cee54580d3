"""Dangol's benchmark suite: measures the system against the goals in docs/performance.md.

Run it with ``dangol bench`` (or ``make bench``). Each benchmark is a function registered with
:func:`bench.registry.benchmark`; the runner builds or reuses a dataset per engine and size, runs
the registered functions and writes ``bench/results/<date>-<engine>-<size>.json`` and ``.md``.
"""
