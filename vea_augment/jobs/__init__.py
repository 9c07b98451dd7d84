"""One module per command: plan the work, run the per-shard steps (on a Ray actor pool through
``distributed`` or in this process), write the outputs through ``data`` and ``reports``, and
return a summary."""
