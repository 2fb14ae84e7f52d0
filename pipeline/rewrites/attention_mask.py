"""`attention-mask`: attention with a bounded additive mask instead of -1e9.

Keras' masked softmax adds -1e9 where the mask is 0 (its fused path even adds -0.7 x the
largest float32), so the int8 SOFTMAX input gets a scale of millions and every real attention
score rounds to the same code: attention becomes uniform. The replacement computes attention
the explicit way (scores, softmax, weighted sum: BATCH_MATMUL, SOFTMAX, MUL, ADD) and moves
masked scores down by MASK_OFFSET: exp(-16) = 1e-7 of the weight of an unmasked score, far
below the int8 softmax output step (1/256), while the softmax input range grows by 16 only.
Applied to every keras.layers.MultiHeadAttention, keras_hub's CachedMultiHeadAttention
included (its cache logic is untouched).
"""

from __future__ import annotations

from types import MethodType
from typing import Any

from pipeline.rewrites import keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite
from pipeline.tfenv import keras

MASK_OFFSET = 16.0
ATTR = "_compute_attention"
PER_HEAD = "_gelu_edge_per_head"  # set by the attention-heads rewrite


def bounded_attention(self: Any, query: Any, key: Any, value: Any, attention_mask: Any = None,
                      training: Any = None, return_attention_scores: bool = False,
                      use_causal_mask: bool = False) -> tuple[Any, Any]:
    """MultiHeadAttention._compute_attention, explicit, with a mask offset of MASK_OFFSET."""
    ops = keras().ops
    if use_causal_mask:
        causal = self._compute_causal_mask(query, value)
        attention_mask = causal if attention_mask is None else ops.logical_and(
            ops.cast(attention_mask, "bool"), causal)
    query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
    heads = query.shape[2] if getattr(self, PER_HEAD, False) and len(query.shape) == 4 and \
        len(self._attention_axes) == 1 else 1
    if heads == 1:
        return _attend(self, query, key, value, attention_mask, training,
                       return_attention_scores)
    # one head at a time: each head's scores, probabilities and output get int8 grids of their
    # own (a head whose scores span 146 no longer sets the step of the others', 7-30)
    parts = [_attend(self, q, k_, v, attention_mask, training, return_attention_scores)
             for q, k_, v in zip(*(ops.split(t, heads, axis=2) for t in (query, key, value)))]
    output = ops.concatenate([o for o, _ in parts], axis=2)
    return output, (ops.concatenate([a for _, a in parts], axis=1)
                    if return_attention_scores else None)


def _attend(self: Any, query: Any, key: Any, value: Any, attention_mask: Any, training: Any,
            return_attention_scores: bool) -> tuple[Any, Any]:
    """Scores, the bounded mask, softmax and the weighted sum, for the heads given."""
    ops = keras().ops
    scores = ops.einsum(self._dot_product_equation, key, query)
    if attention_mask is not None:
        axis = -len(self._attention_axes) * 2 - 1
        mask = attention_mask
        for _ in range(len(scores.shape) - len(mask.shape)):
            mask = ops.expand_dims(mask, axis=axis)
        # 0 where attended, -16 where masked, selected (SELECT_V2) from the boolean mask:
        # a cast of the mask to float would be a float island in int8.
        bias = ops.where(ops.cast(mask, "bool"), ops.zeros_like(scores),
                         ops.full_like(scores, -MASK_OFFSET))
        scores = scores + bias
    axes = tuple(range(-len(self._attention_axes), 0))
    scores = ops.softmax(scores, axis=axes[0] if len(axes) == 1 else axes)
    weights = self._dropout_layer(scores, training=training) if self._dropout > 0.0 else scores
    output = ops.einsum(self._combine_equation, weights, value)
    return output, scores if return_attention_scores else None


def _bounded_call(layer: Any, *args: Any, **kwargs: Any) -> Any:
    """The layer's own call, with the bounded attention for this one call."""
    object.__setattr__(layer, ATTR, MethodType(bounded_attention, layer))
    try:
        return type(layer).call(layer, *args, **kwargs)
    finally:
        object.__delattr__(layer, ATTR)


def find(model: Any, opts: Options) -> list[Match]:
    """Every MultiHeadAttention (and subclass) at any depth."""
    k = keras()
    found = []
    for path, layer in keras_graph.walk(model):
        if isinstance(layer, k.layers.MultiHeadAttention):
            found.append(Match(path=path, target=layer,
                               detail=f"mask offset -{MASK_OFFSET:g} (was -1e9)",
                               replacement=lambda *a, _l=layer, **kw: _bounded_call(_l, *a,
                                                                                    **kw)))
    return found


def apply(model: Any, matches: list[Match], opts: Options) -> tuple[Any, Any]:
    """Give each attention layer the bounded computation (an instance method, so a subclass's
    own `call` stays as it is)."""
    for m in matches:
        object.__setattr__(m.target, ATTR, MethodType(bounded_attention, m.target))

    def undo() -> None:
        for m in matches:
            if ATTR in vars(m.target):
                object.__delattr__(m.target, ATTR)
    return model, undo


REWRITE = Rewrite(
    name="attention-mask",
    summary=f"attention mask of -{MASK_OFFSET:g} instead of -1e9, so int8 softmax keeps the "
            "scores",
    int8_ops=frozenset({"BATCH_MATMUL", "SOFTMAX", "MUL", "ADD", "SELECT_V2"}),
    targets=None,
    find=find,
    apply=apply,
)
