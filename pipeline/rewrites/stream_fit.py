"""stream-scale's choice of each domain's scale: per-dimension rules, and the emulated int8
error (activations per tensor, weights per output channel) that decides between scaling and
not. Pure numpy on the rows pipeline.rewrites.stream_scale measured."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The rules a domain's scale is chosen among, (strength, alpha) of `_rule`, with no scaling:
# the least emulated int8 error wins. Only dimensions beyond STRENGTH x the median are outliers
# (the layer norms' statistics sum them apart). Tried on all-MiniLM-L6-v2 all-int8 (mean
# cosine): every dimension above the median scaled (strength 1), 0.959; strength 4 with alpha
# 0.5-1 chosen per domain by the emulation, 0.971; strength 4, alpha 1, 0.974. The emulation
# leaves out the layer norms and the adds, so it only chooses between scaling and not.
STRENGTH = 4.0
GRID = ((STRENGTH, 1.0),)
EMBEDDING_RULE = (STRENGTH, 1.0)
MATMUL_ROWS = 512  # rows (tokens) of each domain the consumers' matmuls are emulated on


@dataclass
class Choice:
    """How a domain's scale was chosen: the rule (None: no scaling) and the emulated int8
    error (relative error power summed over the stream tensors and the consumers' output)."""

    strength: float | None
    alpha: float | None
    error: float
    error_unscaled: float


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
