"""Model inputs as the pipeline passes them: one array for a single-input model, a list of arrays
(in the model's input order) for several inputs. These helpers treat both alike."""

from __future__ import annotations

import numpy as np

Inputs = np.ndarray | list[np.ndarray]


def as_list(x: Inputs) -> list[np.ndarray]:
    """The arrays, one per model input."""
    return list(x) if isinstance(x, list) else [x]


def count(x: Inputs) -> int:
    """Number of samples."""
    return len(as_list(x)[0])


def take(x: Inputs, index: slice | np.ndarray) -> Inputs:
    """The same samples of every input."""
    return [a[index] for a in x] if isinstance(x, list) else x[index]


def concat(parts: list[Inputs]) -> Inputs:
    """Samples of several batches one after the other."""
    if isinstance(parts[0], list):
        return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
    return np.concatenate(parts)


def sample_shapes(x: Inputs) -> list[tuple[int, ...]]:
    """Each input's sample shape."""
    return [tuple(a.shape[1:]) for a in as_list(x)]


def outputs(y: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
    """A model's outputs as a list (Keras returns a bare array for one output)."""
    return list(y) if isinstance(y, (list, tuple)) else [y]
