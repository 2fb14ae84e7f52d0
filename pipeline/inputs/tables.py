"""Index inputs and the tables they index: token ids must lie in [0, rows) of the embedding
they feed. TensorFlow's CPU gather fails with a long traceback on an id beyond the table, and a
negative id wraps silently to the end of it; checking the data first turns both into one line.

The tables are found by following each integer model input through the model's functional
graphs (nested ones included) to the layers that take it as is: keras.layers.Embedding (and its
subclasses, keras_hub's ReversibleEmbedding) and keras_hub's TokenAndPositionEmbedding; a
keras_hub PositionEmbedding applied to what such a table gives bounds the input's sequence
length (a model with an open sequence length fails in TensorFlow beyond it). An input
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

IDS, POSITIONS = "ids", "positions"


@dataclass(frozen=True)
class Table:
    """The smallest table an input indexes: ids must lie in [0, rows) (kind IDS), or its
    sequences (axis 1) be at most `rows` long (kind POSITIONS: a position embedding looks up
    one row per position of what the input's embedding gives it)."""

    input_index: int
    layer: str  # the layer path, for the message
    rows: int
    kind: str = IDS


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


def _positions(op: Any) -> int | None:
    """The rows of a position table `op` looks its first argument's positions up in."""
    names = {c.__name__ for c in type(op).__mro__}
    if "TokenAndPositionEmbedding" in names:
        op = getattr(op, "position_embedding", None)
        names = {c.__name__ for c in type(op).__mro__}
    length = getattr(op, "sequence_length", None)
    return int(length) if "PositionEmbedding" in names and isinstance(length, int) else None


def _nodes(graph: Any) -> list[Any]:
    return [n for nodes in graph._nodes_by_depth.values() for n in nodes]


def find(model: Any, signature: Signature) -> list[Table]:
    """The table each integer input of `model` indexes directly (the smallest, when several),
    and the position table that what its embedding gives is looked up in, if any."""
    from pipeline.rewrites.keras_graph import walk

    top = _graph(model)
    if top is None:
        return []
    graphs = [("", top)] + [(p, g) for p, layer in walk(model)
                            if (g := _graph(layer)) is not None and g is not top]
    tables: dict[tuple[int, str], Table] = {}
    for index, (tensor, info) in enumerate(zip(top._inputs, signature.inputs)):
        if not info.is_integer:
            continue
        same = {id(tensor)}  # tensors that carry this input's values unchanged
        embedded: set[int] = set()  # what the tables give for it (its sequence axis kept)
        changed = True
        while changed:  # nested graphs: their inputs join the set, then their nodes are read
            changed = False
            for base, graph in graphs:
                for node in _nodes(graph):
                    args = node.arguments.keras_tensors
                    op = node.operation
                    if args and id(args[0]) in embedded:
                        length = _positions(op)
                        if length is not None:
                            _keep(tables, Table(index, _path(base, op), length, POSITIONS))
                    if not args or not any(id(t) in same for t in args):
                        continue
                    inner = _graph(op)
                    if inner is not None and len(args) == len(inner._inputs):
                        for arg, inner_input in zip(args, inner._inputs):
                            if id(arg) in same and id(inner_input) not in same:
                                same.add(id(inner_input))
                                changed = True
                        continue
                    if id(args[0]) not in same:
                        continue
                    length = _positions(op)  # TokenAndPositionEmbedding: both tables
                    if length is not None:
                        _keep(tables, Table(index, _path(base, op), length, POSITIONS))
                    rows = _rows(op)
                    if rows is None:
                        continue
                    _keep(tables, Table(index, _path(base, op), rows))
                    if not any(id(t) in embedded for t in node.outputs):
                        embedded.update(id(t) for t in node.outputs)
                        changed = True
    return sorted(tables.values(), key=lambda t: (t.input_index, t.kind))


def _path(base: str, op: Any) -> str:
    return f"{base}/{op.name}" if base else op.name


def _keep(tables: dict[tuple[int, str], Table], table: Table) -> None:
    """Keep the smallest table of each kind per input."""
    key = (table.input_index, table.kind)
    if key not in tables or table.rows < tables[key].rows:
        tables[key] = table


def check(x: batch.Inputs, tables: list[Table], signature: Signature, source: str,
          keys: list[str | None]) -> None:
    """UserError naming the array, the value and the limit when an id lies outside its table.
    `keys` names the array of each input in `source` (None: the file holds just that array)."""
    arrays = batch.as_list(x)
    for table in tables:
        arr = np.asarray(arrays[table.input_index])
        name = signature.inputs[table.input_index].name
        key = keys[table.input_index]
        what = f"array {key!r} (model input {name!r})" if key else f"model input {name!r}"
        if table.kind == POSITIONS:
            if arr.ndim >= 2 and arr.shape[1] > table.rows:
                raise UserError(f"{source}: {what} has sequences of {arr.shape[1]} tokens, but "
                                f"position embedding {table.layer!r} has {table.rows} "
                                f"positions; cut the sequences to at most {table.rows}")
            continue
        if not arr.size or not np.issubdtype(arr.dtype, np.integer):
            continue
        low, high = int(arr.min()), int(arr.max())
        if low >= 0 and high < table.rows:
            continue
        bad = low if low < 0 else high
        count = int(np.count_nonzero((arr < 0) | (arr >= table.rows)))
        raise UserError(f"{source}: {what} holds id {bad} ({count} value"
                        f"{'s' if count > 1 else ''} outside 0..{table.rows - 1}), but "
                        f"embedding {table.layer!r} has {table.rows} rows; ids must be "
                        f"0 <= id < {table.rows} (use the model's own vocabulary)")
