"""Reading a VLM's attention without eager attention.

``capture`` registers a wrapper in transformers' AttentionInterface that computes the last
prompt token's attention row at the chosen layers and stops the forward pass after the
deepest one; ``attributor`` runs one prefill pass per batch and returns token scores with
their boxes in original-image pixels; ``layer_choice`` says which layers to read.
"""

from vea_augment.attribution.attributor import Attribution, Attributor, CapturedBatch
from vea_augment.attribution.layer_choice import resolve_layers

__all__ = ["Attribution", "Attributor", "CapturedBatch", "resolve_layers"]
