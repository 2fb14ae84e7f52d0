"""Index inputs and the tables they index: token ids must lie in [0, rows) of the embedding
they feed. TensorFlow's CPU gather fails with a long traceback on an id beyond the table, and a
negative id wraps silently to the end of it; checking the data first turns both into one line.

The tables are found by following each integer model input through the model's functional
graphs (nested ones included) to the layers that take it as is: keras.layers.Embedding (and its
subclasses, keras_hub's ReversibleEmbedding) and keras_hub's TokenAndPositionEmbedding. An input
that reaches a table only through other operations (arithmetic, a custom layer) gets no check:
its values may be changed on the way, and a false refusal is worse than none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.errors import UserError
from pipeline.inputs import batch
from pipeline.inputs.signature import Signature


@dataclass(frozen=True)
class Table:
    """The smallest table an input indexes: ids must lie in [0, rows)."""

    input_index: int
    layer: str  # the layer path, for the message
    rows: int


def _graph(layer: Any) -> Any | None:
    """The functional graph of a layer: itself for a functional model, a Sequential's inner
    one, else None."""
    from keras.src.models.functional import Functional

    if isinstance(layer, Functional):
        return layer
    inner = getattr(layer, "_functional", None)
    return inner if isinstance(inner, Functional) else None


def _rows(op: Any) -> int | None:
    """The rows of the table `op` looks its first argument up in, or None."""
    import keras

    if isinstance(op, keras.layers.Embedding):
        return int(op.input_dim)
    if any(c.__name__ == "TokenAndPositionEmbedding" for c in type(op).__mro__):
        token = getattr(op, "token_embedding", None)
        return int(token.input_dim) if isinstance(token, keras.layers.Embedding) else None
    return None


def _nodes(graph: Any) -> list[Any]:
    return [n for nodes in graph._nodes_by_depth.values() for n in nodes]


def find(model: Any, signature: Signature) -> list[Table]:
    """The table each integer input of `model` indexes directly (the smallest, when several)."""
    from pipeline.rewrites.keras_graph import walk

    top = _graph(model)
    if top is None:
        return []
    graphs = [("", top)] + [(p, g) for p, layer in walk(model)
                            if (g := _graph(layer)) is not None and g is not top]
    tables: dict[int, Table] = {}
    for index, (tensor, info) in enumerate(zip(top._inputs, signature.inputs)):
        if not info.is_integer:
            continue
        same = {id(tensor)}  # tensors that carry this input's values unchanged
        changed = True
        while changed:  # nested graphs: their inputs join the set, then their nodes are read
            changed = False
            for base, graph in graphs:
                for node in _nodes(graph):
                    args = node.arguments.keras_tensors
                    if not args or not any(id(t) in same for t in args):
                        continue
                    op = node.operation
                    inner = _graph(op)
                    if inner is not None and len(args) == len(inner._inputs):
                        for arg, inner_input in zip(args, inner._inputs):
                            if id(arg) in same and id(inner_input) not in same:
                                same.add(id(inner_input))
                                changed = True
                        continue
                    rows = _rows(op)
                    if rows is None or id(args[0]) not in same:
                        continue
                    path = f"{base}/{op.name}" if base else op.name
                    if index not in tables or rows < tables[index].rows:
                        tables[index] = Table(index, path, rows)
    return sorted(tables.values(), key=lambda t: t.input_index)


def check(x: batch.Inputs, tables: list[Table], signature: Signature, source: str,
          keys: list[str | None]) -> None:
    """UserError naming the array, the value and the limit when an id lies outside its table.
    `keys` names the array of each input in `source` (None: the file holds just that array)."""
    arrays = batch.as_list(x)
    for table in tables:
        arr = np.asarray(arrays[table.input_index])
        if not arr.size or not np.issubdtype(arr.dtype, np.integer):
            continue
        low, high = int(arr.min()), int(arr.max())
        if low >= 0 and high < table.rows:
            continue
        bad = low if low < 0 else high
        count = int(np.count_nonzero((arr < 0) | (arr >= table.rows)))
        name = signature.inputs[table.input_index].name
        key = keys[table.input_index]
        what = f"array {key!r} (model input {name!r})" if key else f"model input {name!r}"
        raise UserError(f"{source}: {what} holds id {bad} ({count} value"
                        f"{'s' if count > 1 else ''} outside 0..{table.rows - 1}), but "
                        f"embedding {table.layer!r} has {table.rows} rows; ids must be "
                        f"0 <= id < {table.rows} (use the model's own vocabulary)")
