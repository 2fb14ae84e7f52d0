"""`grouped-conv`: `Conv2D(groups=channels)` as the depthwise convolution it is.

Keras' ConvNeXt writes its depthwise convolutions as Conv2D with one group per channel; the
converter makes that CONV_2D version 6, which Coral's compiler 16 rejects (and which older
runtimes lack). A DepthwiseConv2D with the same kernel (moved from [h, w, 1, C] to
[h, w, C, 1]), bias, strides, padding, dilation and activation computes the same thing and
converts to DEPTHWISE_CONV_2D.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.rewrites import keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite
from pipeline.tfenv import keras


def _is_depthwise(layer: Any) -> bool:
    k = keras()
    if type(layer) is not k.layers.Conv2D or not layer.built:
        return False
    channels = layer.kernel.shape[-2] * layer.groups
    return layer.groups > 1 and layer.groups == channels == layer.filters


def depthwise(layer: Any) -> Any:
    """A DepthwiseConv2D equal to the grouped Conv2D `layer`, weights copied."""
    k = keras()
    new = k.layers.DepthwiseConv2D(
        kernel_size=layer.kernel_size, strides=layer.strides, padding=layer.padding,
        data_format=layer.data_format, dilation_rate=layer.dilation_rate, depth_multiplier=1,
        activation=layer.activation, use_bias=layer.use_bias, name=layer.name)
    new.build(layer.input.shape)
    kernel = np.transpose(np.asarray(layer.kernel), (0, 1, 3, 2))
    new.set_weights([kernel, np.asarray(layer.bias)] if layer.use_bias else [kernel])
    return new


def find(model: Any, opts: Options) -> list[Match]:
    """Grouped Conv2D layers with one group per channel, in functional graphs."""
    in_graphs = {id(op) for _, g in keras_graph.graphs(model) for op in g.operations}
    found = []
    for path, layer in keras_graph.walk(model):
        if _is_depthwise(layer) and id(layer) in in_graphs:
            found.append(Match(path=path, target=layer,
                               detail=f"{layer.groups} groups -> DepthwiseConv2D",
                               replacement=lambda x, *a, _l=layer, **kw: _depthwise_of(_l)(x)))
    return found


_MADE: dict[int, Any] = {}


def _depthwise_of(layer: Any) -> Any:
    if id(layer) not in _MADE:
        _MADE[id(layer)] = depthwise(layer)
    return _MADE[id(layer)]


def apply(model: Any, matches: list[Match], opts: Options) -> tuple[Any, Any]:
    """Rebuild the graphs with each grouped convolution as a depthwise one."""
    if not matches:
        return model, lambda: None
    swaps = {id(m.target): (lambda layer, *a, **kw: _depthwise_of(layer)(*a, **kw))
             for m in matches}
    return keras_graph.rebuild(model, swaps), lambda: None


REWRITE = Rewrite(
    name="grouped-conv",
    summary="Conv2D(groups=channels) as DepthwiseConv2D (CONV_2D v6 is rejected by Coral's "
            "compiler)",
    int8_ops=frozenset({"DEPTHWISE_CONV_2D"}),
    targets=None,
    float_too=True,
    find=find,
    apply=apply,
)
