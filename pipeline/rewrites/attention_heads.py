"""`attention-heads`: attention computed one head at a time, so each head's scores, softmax
and weighted sum get int8 grids of their own.

With every head in one tensor, one scale covers all heads' scores: in all-MiniLM-L6-v2's first
layer one head's scores span 146 and the others' 7-30, so the others' scores are rounded to a
step of 0.57 before the softmax (exp(0.29): a third of a probability). Per head, each is
calibrated on its own range. The heads are split from the query, key and value (SPLIT), each
runs the attention-mask rewrite's explicit attention (bounded mask), and their outputs are
concatenated (CONCATENATION): exact in float. Only for the integer placement (a `matmuls`
build runs attention in float or splits it in TFLite, pipeline.tflite.heads).
"""

from __future__ import annotations

from types import MethodType
from typing import Any

from pipeline.rewrites import attention_mask, keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite
from pipeline.tfenv import keras


def _per_head_call(layer: Any, *args: Any, **kwargs: Any) -> Any:
    """The layer's own call, attention per head, for this one call."""
    object.__setattr__(layer, attention_mask.ATTR,
                       MethodType(attention_mask.bounded_attention, layer))
    object.__setattr__(layer, attention_mask.PER_HEAD, True)
    try:
        return type(layer).call(layer, *args, **kwargs)
    finally:
        object.__delattr__(layer, attention_mask.ATTR)
        object.__delattr__(layer, attention_mask.PER_HEAD)


def find(model: Any, opts: Options) -> list[Match]:
    """Every MultiHeadAttention (and subclass) with more than one head over one attention
    axis, at any depth."""
    k = keras()
    return [Match(path=path, target=layer, detail=f"{layer.num_heads} heads apart",
                  replacement=lambda *a, _l=layer, **kw: _per_head_call(_l, *a, **kw))
            for path, layer in keras_graph.walk(model)
            if isinstance(layer, k.layers.MultiHeadAttention) and layer.num_heads > 1
            and len(layer._attention_axes or (1,)) == 1]


def apply(model: Any, matches: list[Match], opts: Options) -> tuple[Any, Any]:
    """Each attention layer computes its heads apart (with the bounded mask)."""
    for m in matches:
        object.__setattr__(m.target, attention_mask.ATTR,
                           MethodType(attention_mask.bounded_attention, m.target))
        object.__setattr__(m.target, attention_mask.PER_HEAD, True)

    def undo() -> None:
        for m in matches:
            for attr in (attention_mask.PER_HEAD, attention_mask.ATTR):
                if attr in vars(m.target):
                    object.__delattr__(m.target, attr)
    return model, undo


REWRITE = Rewrite(
    name="attention-heads",
    summary="attention one head at a time, so each head's scores get their own int8 grid",
    int8_ops=frozenset({"SPLIT", "BATCH_MATMUL", "SOFTMAX", "CONCATENATION"}),
    targets=None,
    find=find,
    apply=apply,
)
