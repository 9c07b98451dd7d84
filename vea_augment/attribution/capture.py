"""Last-row attention capture at chosen decoder layers, without eager attention, with early exit.

The model keeps its fast attention kernel (SDPA, FlexAttention or flash-attention). A wrapper
registered in transformers' ``AttentionInterface`` runs that kernel unchanged and, at the
chosen decoder layers only, also computes one softmax row: the last prompt token's attention
over all keys, from the same post-rotary q and k, in float32, averaged over heads (the inner
mean of Eq. 1). After the deepest chosen layer it raises :class:`_ForwardComplete`, so the
layers above, the final norm and the LM head never run.

Nothing of size heads × seq × seq is built here: the extra work per chosen layer is one
``(batch, heads, seq)`` row.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from vea_augment.errors import ConfigError
from vea_augment.options import ATTN_IMPLEMENTATION

CAPTURE_PREFIX = "vea_capture_"


class _ForwardComplete(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised after the deepest chosen layer to end the forward pass early."""


@dataclass
class CaptureSession:
    """Where the capture wrapper writes: target modules, their layer index, captured rows."""

    targets: dict[int, int]
    deepest: int
    rows: dict[int, torch.Tensor] = field(default_factory=dict)
    stop_early: bool = True
    per_head: bool = False
    #: ``{layer: (batch, heads, keys)}``, filled only when ``per_head`` is set.
    head_rows: dict[int, torch.Tensor] = field(default_factory=dict)


_ACTIVE: contextvars.ContextVar[CaptureSession | None] = contextvars.ContextVar(
    "vea_capture_session", default=None
)


def _last_row_mask(attention_mask: torch.Tensor | None, batch: int, keys: int) -> torch.Tensor:
    """The additive float mask ``(batch, 1, keys)`` of the last query row (0 keep, -inf drop).

    Accepts every mask layout the kernels receive: None (causal without padding: the last
    query sees every key), a 4D boolean or additive float mask, or a 2D padding mask.
    """
    if attention_mask is None:
        return torch.zeros(batch, 1, keys)
    if attention_mask.dim() == 4:
        row = attention_mask[:, :, -1, :keys]
    elif attention_mask.dim() == 2:
        row = attention_mask[:, None, -keys:].bool()
    else:
        raise ValueError(f"unsupported attention mask of shape {tuple(attention_mask.shape)}")
    if row.dtype == torch.bool:
        additive = torch.zeros(row.shape, dtype=torch.float32, device=row.device)
        return additive.masked_fill(~row, float("-inf")).expand(batch, -1, -1)
    return row.float().expand(batch, -1, -1)


def last_row_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    softcap: float | None = None,
    per_head: bool = False,
) -> torch.Tensor:
    """Softmax row of the last query over all keys, float32: head-averaged ``(batch, keys)``
    (the inner mean of Eq. 1), or every head's ``(batch, heads, keys)`` with ``per_head``.

    ``query`` is ``(batch, heads, q_len, dim)`` and ``key`` is ``(batch, kv_heads, keys, dim)``
    with ``heads`` a multiple of ``kv_heads`` (grouped-query heads are expanded the way
    transformers' ``repeat_kv`` does: query head h reads kv head h // groups).
    """
    batch, heads, _, dim = query.shape
    kv_heads, keys = key.shape[1], key.shape[2]
    if heads % kv_heads:
        raise ValueError(f"{heads} query heads do not group onto {kv_heads} key/value heads")
    grouped_query = query[:, :, -1, :].float().reshape(batch, kv_heads, heads // kv_heads, dim)
    logits = torch.einsum("bkgd,bknd->bkgn", grouped_query, key.float()).reshape(batch, heads, keys)
    logits = logits * scaling
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    logits = logits + _last_row_mask(attention_mask, batch, keys).to(logits.device)
    per_head_rows = torch.softmax(logits, dim=-1)
    return per_head_rows if per_head else per_head_rows.mean(dim=1)


def _capturing_kernel(kernel_name: str) -> Callable[..., Any]:
    kernel = ALL_ATTENTION_FUNCTIONS[kernel_name]

    def capture_then_attend(
        module: torch.nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        scaling: float | None = None,
        **kwargs: Any,
    ) -> Any:
        session = _ACTIVE.get()
        layer = None if session is None else session.targets.get(id(module))
        if layer is None:
            return kernel(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        heads = last_row_attention(
            query, key, attention_mask, scale, kwargs.get("softcap"), per_head=True
        )
        session.rows[layer] = heads.mean(dim=1)
        if session.per_head:
            session.head_rows[layer] = heads
        if session.stop_early and layer == session.deepest:
            raise _ForwardComplete
        return kernel(module, query, key, value, attention_mask, scaling=scaling, **kwargs)

    return capture_then_attend


def capture_implementation(kernel_name: str) -> str:
    """Register (once) and return the capture implementation wrapping ``kernel_name``.

    The mask function registered under the same name is the wrapped kernel's own, so the
    model builds exactly the causal, padding and sliding-window masks it would build anyway.
    """
    if kernel_name.startswith(CAPTURE_PREFIX):
        return kernel_name
    if (
        kernel_name not in ALL_ATTENTION_FUNCTIONS
        or kernel_name not in ALL_MASK_ATTENTION_FUNCTIONS
    ):
        raise ConfigError(
            f"attention kernel {kernel_name!r} cannot be wrapped; use one of "
            f"{sorted(k for k in ALL_ATTENTION_FUNCTIONS if k in ALL_MASK_ATTENTION_FUNCTIONS)}"
        )
    name = f"{CAPTURE_PREFIX}{kernel_name}"
    if name not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(name, _capturing_kernel(kernel_name))
        AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[kernel_name])
    return name


def install_capture(
    model: Any, text_config: Any, text_config_key: str = "text_config", kernel: str | None = None
) -> str:
    """Route a model's language-model attention through the capture wrapper; returns its name.

    ``text_config`` is the language model's config, reached from ``model.config`` as
    ``text_config_key`` (empty for a text-only model). The vision tower keeps its kernel.
    Outside a :func:`capturing` block the wrapper only calls the kernel, so the model
    behaves exactly as before (generation included).
    """
    current = getattr(text_config, "_attn_implementation", None) or ATTN_IMPLEMENTATION
    if current.startswith(CAPTURE_PREFIX):
        return current
    name = capture_implementation(
        kernel or (ATTN_IMPLEMENTATION if current == "eager" else current)
    )
    model.set_attn_implementation({text_config_key: name} if text_config_key else name)
    if text_config._attn_implementation != name:
        text_config._attn_implementation_internal = name
    return name


def check_layers(layers: Sequence[int], num_layers: int) -> tuple[int, ...]:
    """Sorted unique layers, each a valid 0-based decoder index, else a clear ConfigError."""
    if not layers:
        raise ConfigError("no layers chosen: give at least one decoder layer index")
    bad = [layer for layer in layers if not 0 <= int(layer) < num_layers]
    if bad:
        raise ConfigError(
            f"layer(s) {bad} outside the model: it has {num_layers} decoder layers, "
            f"valid indices are 0..{num_layers - 1}"
        )
    return tuple(sorted({int(layer) for layer in layers}))


@contextmanager
def capturing(
    attention_modules: Sequence[torch.nn.Module],
    layers: Sequence[int],
    stop_early: bool = True,
    per_head: bool = False,
) -> Iterator[CaptureSession]:
    """Capture last-row attention at ``layers`` during the forward passes run in this block.

    ``attention_modules[l]`` is decoder layer l's self-attention module. Use
    :func:`run_until_captured` to run a forward pass that may stop early. With ``per_head``
    the session also keeps every head's row (``session.head_rows``).
    """
    chosen = check_layers(layers, len(attention_modules))
    session = CaptureSession(
        targets={id(attention_modules[layer]): layer for layer in chosen},
        deepest=chosen[-1],
        stop_early=stop_early,
        per_head=per_head,
    )
    token = _ACTIVE.set(session)
    try:
        yield session
    finally:
        _ACTIVE.reset(token)


def run_until_captured(
    forward: Callable[[], Any], session: CaptureSession
) -> dict[int, torch.Tensor]:
    """Run ``forward`` inside an active session; return ``{layer: (batch, keys) rows}``.

    Raises RuntimeError if the forward pass never reached a chosen layer (the model did not
    route its attention through the capture wrapper).
    """
    with suppress(_ForwardComplete):
        forward()
    missing = sorted(set(session.targets.values()) - set(session.rows))
    if missing:
        raise RuntimeError(
            f"attention at layer(s) {missing} was never captured: the language model does not "
            "dispatch through transformers' AttentionInterface (call install_capture first)"
        )
    return dict(sorted(session.rows.items()))
