"""One sample with every intermediate tensor kept, as the runtime holds it (int8 codes, not
dequantized), on its optimized or its reference kernels: what the host compares tensor by tensor
to find where two machines part ways. Standard library, numpy and a runtime only."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.kernels import OPTIMIZED
from edge.runner import _each_sample, open_interpreter


def _address(interpreter: Any, index: int) -> int | None:
    """Where a tensor's data lives (None if it has none)."""
    try:
        view = interpreter.tensor(index)()
    except ValueError:
        return None
    address = int(view.__array_interface__["data"][0]) if view.size else None
    del view  # the interpreter refuses to run while a view into it is alive
    return address


def aliases(interpreter: Any, indices: list[int]) -> list[list[int]]:
    """Groups of the given tensors that share one buffer. The runtime runs some ops in place
    (an ADD into its input, RESHAPE as a view) even with every tensor kept, so after the
    invoke such a tensor holds the last value written there, not its own."""
    groups: dict[int, list[int]] = {}
    for i in indices:
        address = _address(interpreter, i)
        if address is not None:
            groups.setdefault(address, []).append(i)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def trace(model_path: str, x: list[np.ndarray], runtime: str, indices: list[int],
          kernels: str = OPTIMIZED) -> tuple[dict[str, np.ndarray], list[list[int]]]:
    """Run the first sample of `x` with every tensor kept; return the requested tensors' raw
    values (`t<index>`; also `y<i>`, each output as a normal run gives it) and the groups of
    them that share a buffer."""
    interpreter = open_interpreter(model_path, runtime, preserve_all_tensors=True,
                                   kernels=kernels)
    known = {d["index"] for d in interpreter.get_tensor_details()}
    missing = [i for i in indices if i not in known]
    if missing:
        raise ValueError(f"the model has no tensors {missing}")
    batch = int(interpreter.get_input_details()[0]["shape"][0])
    for _ in _each_sample(interpreter, [a[:batch] for a in x], None):
        break
    found: dict[str, np.ndarray] = {}
    for i in indices:
        try:
            found[f"t{i}"] = interpreter.get_tensor(i).copy()
        except ValueError:  # a tensor without data (an omitted optional input)
            continue
    for i, out in enumerate(interpreter.get_output_details()):
        found[f"y{i}"] = interpreter.get_tensor(out["index"]).copy()
    return found, aliases(interpreter, indices)
