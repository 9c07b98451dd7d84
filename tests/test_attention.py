"""The last-row kernel itself: masks in every layout, grouped-query heads, soft-capping."""

from __future__ import annotations

import pytest
import torch
from transformers.integrations.sdpa_attention import repeat_kv

from vea_augment.attribution.capture import check_layers, last_row_attention
from vea_augment.errors import ConfigError


def reference_row(query, key, keep, scaling, softcap=None):
    """Full eager attention (all rows), then the last row, head mean."""
    expanded = repeat_kv(key, query.shape[1] // key.shape[1])
    logits = query @ expanded.transpose(-1, -2) * scaling
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    logits = logits.masked_fill(~keep[:, None, None, :], float("-inf"))
    return torch.softmax(logits.double(), dim=-1)[:, :, -1, :].mean(dim=1)


@pytest.fixture
def tensors():
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(2, 6, 5, 8, generator=generator)
    key = torch.randn(2, 3, 5, 8, generator=generator)
    keep = torch.tensor([[True] * 5, [False, False, True, True, True]])
    return query, key, keep


def test_grouped_heads_and_every_mask_layout_give_the_eager_row(tensors):
    query, key, keep = tensors
    expected = reference_row(query, key, keep, 0.3)
    causal = torch.tril(torch.ones(5, 5, dtype=torch.bool))
    bool_4d = causal[None, None] & keep[:, None, None, :]
    float_4d = torch.zeros(bool_4d.shape).masked_fill(~bool_4d, torch.finfo(torch.float32).min)
    for mask in (bool_4d, float_4d, keep.long()):
        row = last_row_attention(query, key, mask, 0.3)
        torch.testing.assert_close(row.double(), expected, rtol=1e-6, atol=1e-7)


def test_no_mask_means_the_last_query_sees_every_key(tensors):
    query, key, _ = tensors
    everything = torch.ones(2, 5, dtype=torch.bool)
    row = last_row_attention(query, key, None, 0.3)
    torch.testing.assert_close(row.double(), reference_row(query, key, everything, 0.3))
    torch.testing.assert_close(row.sum(dim=-1), torch.ones(2))


def test_softcap_is_applied_before_the_softmax(tensors):
    query, key, keep = tensors
    row = last_row_attention(query, key, keep, 2.0, softcap=1.5)
    torch.testing.assert_close(row.double(), reference_row(query, key, keep, 2.0, 1.5))


def test_heads_that_do_not_group_are_refused(tensors):
    query, _key, _ = tensors
    with pytest.raises(ValueError, match="6 query heads do not group onto 4"):
        last_row_attention(query, torch.randn(2, 4, 5, 8), None, 0.3)


def test_layer_checks_sort_deduplicate_and_name_the_range():
    assert check_layers([3, 1, 3], 4) == (1, 3)
    with pytest.raises(ConfigError, match=r"layer\(s\) \[4, -1\].*0\.\.3"):
        check_layers([4, -1, 2], 4)
    with pytest.raises(ConfigError, match="at least one"):
        check_layers([], 4)
