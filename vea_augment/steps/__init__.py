"""Per-shard compute: augment, profile, analyze, answer, score. No Ray and no output-folder
layout here; ``jobs`` decides where things go and ``distributed`` where they run."""
