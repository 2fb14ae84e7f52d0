"""`stream-scale`: a post-LN transformer's residual stream carried divided by a per-dimension
scale, so that its few outlier dimensions stop setting the int8 grid of all the others.

A BERT's residual stream (each layer norm's output, and the residual sum the next layer norm
reads) has a few dimensions whose values are tens of times larger than the rest (Bondarenko
et al. 2021); one int8 scale per tensor leaves the other dimensions a handful of levels. Here
every stream boundary (a layer norm's output up to the next layer norm's input) gets a vector
s >= 1, largest on the outlier dimensions, fitted on calibration samples, and the stream is
carried as x / s. Exact in float:
- the layer norm writing the boundary: gamma and beta divided by s;
- the Dense layers reading it (attention's query, key and value; the feed-forward's first
  Dense): their kernels' input rows multiplied by s;
- the Dense layers adding to it (attention's output, the feed-forward's second Dense): their
  kernels' output columns and biases divided by s;
- the layer norm reading it: statistics weighted by s (mean = sum(y s) / n, variance =
  sum(d^2 s^2) / n with d = y - mean / s), then gamma multiplied by s_in / s_out;
- the embeddings' sum, when the first layer norm reads a sum of embedding tables: the tables
  divided by its own s.
The last layer norm keeps s = 1: the model's outputs are unchanged. Each domain's s comes from
the per-dimension ranges on calibration samples (`_rule`) and is kept only where it emulates a
lower int8 error than no scaling (`fit`).

Every layer norm of the chain also computes its statistics in a form int8 keeps
(`weighted_call`): the variance summed apart over the outlier dimensions (squared together,
theirs set the grid and the others' round to zero), and the normalisation in two passes (a few
tokens, BERT's [CLS], have a variance hundreds of times the others'). all-MiniLM-L6-v2 all-int8:
with the scales alone, mean cosine 0.82 -> 0.90; with the statistics too, 0.97.

Where: keras_hub TransformerEncoder layers with `normalize_first=False` (BERT, MiniLM,
RoBERTa) chained one after another, with the layer norm that feeds the first (the
embeddings'). The vectors are written to approximate.json (`fitted`) and applied again
on every load. Only for the integer placement: a `matmuls` build runs the stream in float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.rewrites import keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite, undo_all
from pipeline.rewrites.layer_norm import EDGE_TPU_TARGETS
from pipeline.tfenv import keras, tensorflow

# The rules a domain's scale is chosen among, (strength, alpha) of `_rule`, with no scaling:
# the least emulated int8 error wins. Only dimensions beyond STRENGTH x the median are outliers
# (the layer norms' statistics sum them apart). Tried on all-MiniLM-L6-v2 all-int8 (mean
# cosine): every dimension above the median scaled (strength 1), 0.959; strength 4 with alpha
# 0.5-1 chosen per domain by the emulation, 0.971; strength 4, alpha 1, 0.974. The emulation
# leaves out the layer norms and the adds, so it only chooses between scaling and not.
STRENGTH = 4.0
GRID = ((STRENGTH, 1.0),)
EMBEDDING_RULE = (STRENGTH, 1.0)
FIT_SAMPLES = 32  # calibration samples the domains are measured on
ROWS = 2048  # rows (tokens) of each layer norm's input and output kept for the emulation
MATMUL_ROWS = 512  # of which the consumers' matmuls are emulated on this many


@dataclass
class Choice:
    """How a domain's scale was chosen: the rule (None: no scaling) and the emulated int8
    error (relative error power summed over the stream tensors and the consumers' output)."""

    strength: float | None
    alpha: float | None
    error: float
    error_unscaled: float


@dataclass
class _Encoder:
    layer: Any  # keras_hub TransformerEncoder
    path: str

    @property
    def attention(self) -> Any:
        return self.layer._self_attention_layer

    def reads(self, first: bool) -> list[Any]:
        """The Dense layers reading the stream: attention's q/k/v (first) or the FFN's first."""
        a = self.attention
        return [a._query_dense, a._key_dense, a._value_dense] if first else \
            [self.layer._feedforward_intermediate_dense]

    def writes(self, first: bool) -> Any:
        return self.attention._output_dense if first else \
            self.layer._feedforward_output_dense


def _is_post_ln_encoder(layer: Any) -> bool:
    names = {c.__name__ for c in type(layer).__mro__}
    return "TransformerEncoder" in names and not getattr(layer, "normalize_first", True) \
        and all(hasattr(layer, a) for a in ("_self_attention_layer", "_self_attention_layer_norm",
                                            "_feedforward_layer_norm",
                                            "_feedforward_intermediate_dense",
                                            "_feedforward_output_dense"))


def _producer(tensor: Any) -> Any:
    """The layer that made a tensor, through Dropout layers."""
    k = keras()
    op = tensor._keras_history.operation
    while isinstance(op, k.layers.Dropout):
        op = op._inbound_nodes[0].input_tensors[0]._keras_history.operation
    return op


def _chains(model: Any) -> list[tuple[list[str], Any, list[_Encoder]]]:
    """(the paths of its layer norms, the first layer norm, the encoders it feeds one after
    another) for every chain in every functional graph of the model."""
    k = keras()
    paths = {id(layer): path for path, layer in keras_graph.walk(model)}
    found = []
    for _, graph in keras_graph.graphs(model):
        encoders = [op for op in graph.operations if _is_post_ln_encoder(op)]
        if not encoders:
            continue
        first = _producer(encoders[0]._inbound_nodes[0].input_tensors[0])
        linked = all(_producer(e._inbound_nodes[0].input_tensors[0]) is prev
                     for prev, e in zip(encoders, encoders[1:]))
        if isinstance(first, k.layers.LayerNormalization) and linked and \
                all(len(e._inbound_nodes) == 1 for e in encoders) and id(first) in paths:
            chain = [_Encoder(e, paths[id(e)]) for e in encoders]
            found.append(([paths[id(n)] for n in _norms(first, chain)], first, chain))
    return found


def _norms(first: Any, encoders: list[_Encoder]) -> list[Any]:
    """The chain's layer norms in stream order."""
    return [first] + [n for e in encoders for n in (e.layer._self_attention_layer_norm,
                                                    e.layer._feedforward_layer_norm)]


def _measure(model: Any, norms: list[Any], run: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer norm, its input and output over `run(model)`, as rows of the last axis
    (at most ROWS, the same ones for every layer norm)."""
    found: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros(0))] * len(norms)

    def rows(t: Any) -> np.ndarray:
        flat = np.asarray(keras().ops.convert_to_numpy(t), np.float32).reshape(-1, t.shape[-1])
        return flat[np.linspace(0, len(flat) - 1, min(ROWS, len(flat))).astype(int)]

    def record(i: int, layer: Any) -> Any:
        original = type(layer).call

        def call(x: Any, *args: Any, **kwargs: Any) -> Any:
            y = original(layer, x, *args, **kwargs)
            found[i] = (rows(x), rows(y))
            return y
        return call

    try:
        for i, n in enumerate(norms):
            object.__setattr__(n, "call", record(i, n))
        run(model)
    finally:
        for n in norms:
            if "call" in vars(n):
                object.__delattr__(n, "call")
    return found


def _int8(x: np.ndarray) -> np.ndarray:
    """x through an asymmetric int8 grid over its own range (a calibrated activation)."""
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    step = (hi - lo) / 255 or 1.0
    zero = np.round(-128 - lo / step)
    return (np.clip(np.round(x / step + zero), -128, 127) - zero) * step


def _int8_weights(w: np.ndarray) -> np.ndarray:
    """w through symmetric int8 grids per output column (per-channel weights)."""
    step = np.abs(w).max(0, keepdims=True) / 127
    step[step == 0] = 1.0
    return np.round(w / step) * step


def _error(s: np.ndarray, stream: list[np.ndarray], x: np.ndarray, w: np.ndarray | None
           ) -> float:
    """Emulated int8 error of a domain carried divided by s: each stream tensor's relative
    error power, plus the consumers' matmul output's (activations per tensor, weights per
    channel)."""
    total = sum(float(np.sum((t - s * _int8(t / s)) ** 2) / max(np.sum(t * t), 1e-30))
                for t in stream)
    if w is not None:
        y = x @ w
        got = _int8(x / s) @ _int8_weights(w * s[:, None])
        total += float(np.sum((y - got) ** 2) / max(np.sum(y * y), 1e-30))
    return total


def _rule(r: np.ndarray, strength: float, alpha: float) -> np.ndarray:
    """A dimension whose range r is beyond `strength` x the median m: s = (r / (strength m))
    ** alpha; the others 1."""
    return (np.maximum(1.0, r / (strength * float(np.median(r)))) ** alpha).astype(np.float32)


def fit(samples: list[tuple[np.ndarray, np.ndarray]], tables: bool,
        weights: list[np.ndarray | None]) -> tuple[list[np.ndarray], list[Choice]]:
    """The scale of every stream domain (the embeddings' sum: ones without `tables`; each layer
    norm's output up to the next one's input; the last layer norm's output: ones) and how each
    was chosen. The embeddings' sum takes EMBEDDING_RULE; every other domain the rule of GRID
    (or none) with the least emulated int8 error on the samples (`_error`, with `weights[k]`
    the Dense kernels reading layer norm k's output, rows = dimensions)."""
    ones = np.ones(samples[0][0].shape[-1], np.float32)
    first = samples[0][0]
    domains = [_rule(np.abs(first).max(0), *EMBEDDING_RULE) if tables else ones]
    choices = []
    for k in range(len(samples) - 1):  # a layer norm's output and the next one's input
        out, nxt = samples[k][1], samples[k + 1][0]
        r = np.maximum(np.abs(out).max(0), np.abs(nxt).max(0))
        x = out[:: max(1, len(out) // MATMUL_ROWS)]
        options = [(None, None, ones)] + [(st, al, _rule(r, st, al)) for st, al in GRID]
        errors = [_error(sc, [out, nxt], x, weights[k]) for _, _, sc in options]
        best = int(np.argmin(errors))
        domains.append(options[best][2])
        choices.append(Choice(strength=options[best][0], alpha=options[best][1],
                              error=errors[best], error_unscaled=errors[0]))
    return domains + [ones], choices


def _tables(norm: Any) -> list[Any] | None:
    """The embedding tables whose sum the first layer norm reads (through Add and Dropout
    layers, each table looked up once), or None when its input is anything else."""
    k = keras()
    tables: list[Any] = []

    def visit(tensor: Any) -> bool:
        op = _producer(tensor)
        if len(op._inbound_nodes) != 1:
            return False
        if isinstance(op, k.layers.Add):
            return all(visit(t) for t in op._inbound_nodes[0].input_tensors)
        table = getattr(op, "embeddings" if isinstance(op, k.layers.Embedding)
                        else "position_embeddings", None)
        if table is None or len(table.shape) != 2:
            return False
        tables.append(table)
        return True

    return tables if visit(norm._inbound_nodes[0].input_tensors[0]) else None


def _variance(d: Any, s: np.ndarray, extra: Any = None) -> Any:
    """mean((d s)^2) over the last axis (plus `extra`, per token), as sums of parts: the
    dimensions with s = 1 and the outlier dimensions (s > 1), each in a tensor of its own. In
    one tensor the outliers' squares set the int8 grid and the other dimensions' round to
    zero. The parts are summed by CONCATENATION and SUM: the converter fails on an ADD of two
    per-token MEANs here ("'tf.Transpose' op x should be of the same rank with y")."""
    ops = keras().ops
    squares = ops.multiply(d, d)
    outlier = s > 1
    if not outlier.any():
        parts = [ops.mean(squares, axis=-1, keepdims=True)]
    else:
        normal = ops.multiply(squares, ops.convert_to_tensor((~outlier).astype(np.float32)))
        big = ops.multiply(squares, ops.convert_to_tensor(np.where(outlier, s * s, 0.0)
                                                          .astype(np.float32)))
        parts = [ops.mean(normal, axis=-1, keepdims=True), ops.mean(big, axis=-1, keepdims=True)]
    parts += [] if extra is None else [extra]
    if len(parts) == 1:
        return parts[0]
    return ops.sum(ops.concatenate(parts, axis=-1), axis=-1, keepdims=True)


def weighted_call(layer: Any, inputs: Any) -> Any:
    """Layer norm of x = y s_in from y, the statistics weighted by s_in (`layer._stream_in`).
    CPU form: the centred stream divided by its standard deviation twice. A few tokens (BERT's
    [CLS]) have a variance hundreds of times the others', so one int8 grid for the variance
    leaves the others a level or two; the first pass brings every token near unit variance,
    and the second, computed on those with epsilon scaled alike, makes the result exact. The
    variance is summed in two groups (`_variance`). Edge TPU form (`layer._stream_l2`): the
    normalisation by L2_NORMALIZATION of the centred x (the layer-norm rewrite's form). Gamma
    and beta are already folded."""
    ops = keras().ops
    s = layer._stream_in
    y = ops.cast(inputs, "float32")
    scaled = bool(np.any(s != 1))
    weighted = ops.multiply(y, ops.convert_to_tensor(s)) if scaled else y
    mean = ops.mean(weighted, axis=-1, keepdims=True)
    d = ops.subtract(y, ops.multiply(mean, ops.convert_to_tensor(1.0 / s)) if scaled else mean)
    if getattr(layer, "_stream_l2", False):
        centred = ops.multiply(d, ops.convert_to_tensor(s))  # x - mean, the outliers back
        out = ops.multiply(tensorflow().math.l2_normalize(centred, axis=-1),
                           ops.convert_to_tensor(math.sqrt(s.size) / s))
    else:
        # d r1 / sqrt(var(d r1) + eps r1^2) = d / sqrt(var(d) + eps) for any r1 > 0
        r1 = ops.rsqrt(ops.add(_variance(d, s), layer.epsilon))
        out = ops.multiply(d, r1)
        epsilon = ops.multiply(ops.multiply(r1, r1), layer.epsilon)
        out = ops.multiply(out, ops.rsqrt(_variance(out, s, epsilon)))
    if layer.gamma is not None:
        out = ops.multiply(out, ops.cast(layer.gamma, out.dtype))
    if layer.beta is not None:
        out = ops.add(out, ops.cast(layer.beta, out.dtype))
    return ops.cast(out, layer.compute_dtype)


_CLASS: type | None = None


def weighted_class() -> type:
    global _CLASS
    if _CLASS is None:
        k = keras()

        @k.saving.register_keras_serializable(package="gelu_edge")
        class WeightedStatsLayerNorm(k.layers.LayerNormalization):
            """Layer norm of a stream carried divided by a per-dimension scale."""

            def call(self, inputs: Any) -> Any:
                return weighted_call(self, inputs)

        _CLASS = WeightedStatsLayerNorm
    return _CLASS


def _assign(variable: Any, value: np.ndarray) -> Any:
    old = np.array(variable.numpy())
    variable.assign(value.astype(old.dtype))
    return lambda: variable.assign(old)


def _fold(first: Any, encoders: list[_Encoder], domains: list[np.ndarray], l2: bool) -> Any:
    """Fold the domains' scales into the weights and make each layer norm reading a scaled
    stream weighted; the undo."""
    norms = _norms(first, encoders)
    undos = []
    for table in _tables(first) or [] if np.any(domains[0] != 1) else []:
        undos.append(_assign(table, table.numpy() / domains[0]))
    for k, norm in enumerate(norms):
        s_in, s_out = domains[k], domains[k + 1]
        if norm.gamma is not None:
            undos.append(_assign(norm.gamma, norm.gamma.numpy() * s_in / s_out))
        if norm.beta is not None:
            undos.append(_assign(norm.beta, norm.beta.numpy() / s_out))
        # every layer norm of the chain: its statistics in int8-safe form
        old_class = norm.__class__
        object.__setattr__(norm, "__class__", weighted_class())
        object.__setattr__(norm, "_stream_in", s_in.astype(np.float32))
        object.__setattr__(norm, "_stream_l2", l2)

        def undo(n: Any = norm, c: type = old_class) -> None:
            object.__setattr__(n, "__class__", c)
            object.__delattr__(n, "_stream_in")
            object.__delattr__(n, "_stream_l2")
        undos.append(undo)
    for i, encoder in enumerate(encoders):
        for first_half, k in ((True, 2 * i + 1), (False, 2 * i + 2)):
            s = domains[k]
            for dense in encoder.reads(first_half):
                shape = (-1,) + (1,) * (len(dense.kernel.shape) - 1)
                undos.append(_assign(dense.kernel, dense.kernel.numpy() * s.reshape(shape)))
            out = encoder.writes(first_half)
            undos.append(_assign(out.kernel, out.kernel.numpy() / s))
            if out.bias is not None:
                undos.append(_assign(out.bias, out.bias.numpy() / s))
    return undo_all(undos)


INPUT = "#input"  # approximate.json's key suffix for the embeddings' domain


def _readers(encoders: list[_Encoder]) -> list[np.ndarray | None]:
    """Per layer norm but the last, the Dense kernels reading its output, as one matrix with a
    row per dimension."""
    found: list[np.ndarray | None] = []
    for e in encoders:
        for first_half in (True, False):
            found.append(np.concatenate([d.kernel.numpy().reshape(d.kernel.shape[0], -1)
                                         for d in e.reads(first_half)], axis=1))
    return found


def find(model: Any, opts: Options) -> list[Match]:
    """One match per chain's layer norm, with the scales of the domain it reads (extra
    "input_scale") and writes ("scale"): from opts.fitted (a reload) or fitted with opts.run."""
    matches = []
    l2 = opts.target.split(":")[0] in EDGE_TPU_TARGETS
    for paths, first, encoders in _chains(model):
        norms = _norms(first, encoders)
        if opts.fitted is not None:
            if not all(p in opts.fitted for p in paths):
                continue
            ones = np.ones(len(opts.fitted[paths[0]]), np.float32)
            domains = [np.asarray(opts.fitted.get(paths[0] + INPUT, ones), np.float32)] + \
                [np.asarray(opts.fitted[p], np.float32) for p in paths]
            choices: list[Choice | None] = [None] * len(norms)
        elif opts.run is not None:
            domains, fitted = fit(_measure(model, norms, opts.run), _tables(first) is not None,
                                  _readers(encoders))
            choices = [*fitted, None]
        else:
            continue
        for k, (p, norm) in enumerate(zip(paths, norms)):
            s_in, s_out = domains[k], domains[k + 1]
            how = choices[k]
            if how is None:
                chosen = ""
            elif how.strength is None:
                chosen = "; left unscaled (no rule emulated better)"
            else:
                chosen = (f"; strength {how.strength:g}, alpha {how.alpha:g}: emulated int8 "
                          f"error {how.error_unscaled / max(how.error, 1e-30):.1f}x lower")
            matches.append(Match(path=p, target=norm, detail=(
                f"stream scale up to {float(s_out.max()):.3g} on {int((s_out > 1).sum())} of "
                f"{s_out.size} dimensions" + (f" (its input: up to {float(s_in.max()):.3g})"
                                              if k == 0 and np.any(s_in != 1) else "")
                + chosen),
                                 replacement=_replacement(norm, s_in, s_out, l2),
                                 extra={"scale": s_out, "input_scale": s_in,
                                        "chain": (first, encoders), "l2": l2}))
    return matches


def _replacement(norm: Any, s_in: np.ndarray, s_out: np.ndarray, l2: bool) -> Any:
    """The layer norm's output computed the weighted way from x / s_in, times s_out: equal to
    the original output in float (the per-site float error)."""
    ops = keras().ops

    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        class View:  # the folded layer norm's constants, the original's left as they are
            epsilon = norm.epsilon
            compute_dtype = norm.compute_dtype
            gamma = None if norm.gamma is None else norm.gamma.numpy() * s_in / s_out
            beta = None if norm.beta is None else norm.beta.numpy() / s_out
            _stream_in = s_in
            _stream_l2 = l2

        y = ops.divide(ops.cast(x, "float32"), ops.convert_to_tensor(s_in))
        return ops.multiply(weighted_call(View, y), ops.convert_to_tensor(s_out))
    return call


def scales_of(matches: list[Match]) -> dict[str, list[float]]:
    """What approximate.json keeps: each layer norm's output scale, by path."""
    kept = {m.path: [float(v) for v in m.extra["scale"]] for m in matches}
    for m in matches:
        if m.target is m.extra["chain"][0] and np.any(m.extra["input_scale"] != 1):
            kept[m.path + INPUT] = [float(v) for v in m.extra["input_scale"]]
    return kept


def apply(model: Any, matches: list[Match], opts: Options) -> tuple[Any, Any]:
    """Fold each chain's scales into its weights; the layer norms reading the stream weighted."""
    undos = []
    chains: dict[int, list[Match]] = {}
    for m in matches:
        chains.setdefault(id(m.extra["chain"][0]), []).append(m)
    for group in chains.values():
        first, encoders = group[0].extra["chain"]
        domains = [group[0].extra["input_scale"]] + [m.extra["scale"] for m in group]
        undos.append(_fold(first, encoders, domains, group[0].extra["l2"]))
    return model, undo_all(undos)


REWRITE = Rewrite(
    name="stream-scale",
    summary="a post-LN transformer's residual stream carried divided by per-dimension scales "
            "(outlier dimensions), folded into the weights; exact in float",
    int8_ops=frozenset({"MEAN", "SUB", "MUL", "ADD", "RSQRT", "L2_NORMALIZATION",
                        "FULLY_CONNECTED"}),
    targets=None,
    find=find,
    apply=apply,
)
