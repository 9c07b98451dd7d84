"""``python -m vea_augment.cli``: the same as the ``vea-augment`` command."""

from vea_augment.cli import main

main()
