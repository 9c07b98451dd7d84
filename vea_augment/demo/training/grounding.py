"""Optional grounding supervision for the demo model: teach chosen layers where to look.

A model this small, trained on a CPU budget, can learn to answer through circuits whose
last-position attention says little about where the answer came from; then the demo's
profile would have nothing to find. This loss adds, for the chosen layers, the cross-entropy
of the answering position's image attention (mean over heads, normalised over the image
tokens) against the uniform distribution on the evidence tokens (every token the evidence
box touches; an object spans several), less its minimum: it vanishes when the attention is
spread evenly over the evidence and nowhere else. Evenly, because the profile's AUROC ranks
every evidence token, and a layer staring at one corner of the object would rank its other
tokens with the background; with one evidence token it is -log(evidence share). The
answering position is the one whose logits predict the first answer token: the position
attribution reads at inference, not the last token of a training sequence.
It only asks *where among the image tokens* the layer looks, not how much it looks at the
image, so the text-vs-image split of attention by depth stays unsupervised.

A model trained with it grounds by construction in those layers: it illustrates VEA's
mechanism but is no evidence for the paper's finding that grounding emerges on its own.
``training.json`` records whether it was used.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def grounding_loss(
    attentions: Sequence[torch.Tensor],
    input_ids: torch.Tensor,
    image_token_id: int,
    evidence: torch.Tensor,
    layers: Sequence[int],
    answering_positions: torch.Tensor,
) -> torch.Tensor:
    """Mean over ``layers`` and rows of the mean over evidence tokens ``i`` of
    -log(n * a_i), where ``a`` is the answering position's image attention normalised to sum
    to 1 and ``n`` the row's number of evidence tokens.

    ``attentions[layer]`` is ``(batch, heads, query, key)``; ``answering_positions[row]`` is
    the query position whose logits predict that row's first answer token; every row holds
    the same number of image tokens; ``evidence[row]`` is a boolean mask over that row's image
    tokens, True on the evidence.
    """
    image = input_ids == image_token_id
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    losses = []
    for layer in layers:
        answering = attentions[layer][rows, :, answering_positions, :].mean(dim=1)
        on_image = answering[image].view(input_ids.shape[0], -1)
        share = on_image / on_image.sum(dim=-1, keepdim=True)
        count = evidence.sum(dim=-1, keepdim=True)
        per_token = -torch.log(share * count + 1e-6) * evidence
        losses.append((per_token.sum(dim=-1) / count.squeeze(-1)).mean())
    return torch.stack(losses).mean()


def answering_positions(labels: torch.Tensor) -> torch.Tensor:
    """Per row, the position just before the first supervised (``!= -100``) label."""
    return (labels != -100).int().argmax(dim=-1) - 1
