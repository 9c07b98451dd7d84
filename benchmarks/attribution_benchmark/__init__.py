"""The pieces of ``benchmarks/attribution_bench.py``, one concern per module.

``architectures`` (the models benchmarked), ``routes`` (what one timed run does),
``measurement`` (time, peak memory, FLOPs, OOM of one route at one size), ``runner`` (which
process measures what) and ``rendering`` (the Markdown section written to ``--output``).
Imported as the top-level package ``attribution_benchmark``: running the entry script as a
file puts ``benchmarks/`` on ``sys.path``, and the measurement processes inherit that path.
"""
