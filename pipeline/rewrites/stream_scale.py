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
the per-dimension ranges on calibration samples (`stream_fit`) and is kept only where it emulates a
lower int8 error than no scaling (`fit`).

Every layer norm of the chain also computes its statistics in a form int8 keeps
(`stream_norm`): the variance summed apart over the outlier dimensions (squared together,
theirs set the grid and the others' round to zero), and the normalisation in two passes (a few
tokens, BERT's [CLS], have a variance hundreds of times the others'). all-MiniLM-L6-v2 all-int8:
with the scales alone, mean cosine 0.82 -> 0.90; with the statistics too, 0.97.

Where: keras_hub TransformerEncoder layers with `normalize_first=False` (BERT, MiniLM,
RoBERTa) chained one after another, with the layer norm that feeds the first (the
embeddings'). The vectors are written to approximate.json (`fitted`) and applied again
on every load. Only for the integer placement: a `matmuls` build runs the stream in float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.rewrites import keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite, undo_all
from pipeline.rewrites.layer_norm import EDGE_TPU_TARGETS
from pipeline.rewrites.stream_fit import Choice, fit
from pipeline.rewrites.stream_norm import weighted_call, weighted_class
from pipeline.tfenv import keras

FIT_SAMPLES = 32  # calibration samples the domains are measured on
ROWS = 2048  # rows (tokens) of each layer norm's input and output kept for the emulation


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
