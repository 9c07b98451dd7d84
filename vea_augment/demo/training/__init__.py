"""How the bundled demo model was trained (seeded, offline, CPU or GPU): the recipe, the
two training stages, the grounding loss and the held-out evaluation."""
