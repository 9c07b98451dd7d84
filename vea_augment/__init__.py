"""vea-augment: Visual Evidence Augmentation (arXiv 2510.17771) at dataset scale."""

from vea_augment._version import __version__

__all__ = ["__version__"]
