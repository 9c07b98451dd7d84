"""``python -m vea_augment.demo.training``: retrain the bundled demo model."""

from vea_augment.demo.training.train import main

main()
