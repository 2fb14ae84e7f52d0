"""A Keras model's inputs and outputs as the pipeline sees them: flat, named, typed lists.

Keras models take one tensor, a list or a dict of named tensors, and return the same kinds,
nested (every keras_hub backbone returns a dict). The pipeline keeps one flat order for both,
the order of `keras.tree.flatten` (dict keys sorted), which is also the order the TFLite
model's inputs and outputs get from the converter. `Signature.pack` turns the pipeline's flat
arrays back into what the model takes; `Signature.flatten` turns what it returns into arrays.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.inputs.batch import Inputs, as_list, count

PREDICT_BATCH = 256
# Models this large run their float predictions through XLA: on the 22M-parameter MiniLM that
# halves the time (12.9 s against 20.5 s for 600 samples, compile included); below it the
# compile costs more than it saves. The outputs are the same math, fused: float rounding only.
XLA_MIN_PARAMETERS = 5_000_000
XLA_BATCH = 64
# Compiling costs seconds per model (3.4 s for MiniLM): only worth it over this many samples
# (a 16-sample probe of MiniLM took 3.4 s through XLA).
XLA_MIN_SAMPLES = 128


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output."""

    name: str
    shape: tuple[int | None, ...]  # batch axis first; None where the model leaves it open
    dtype: str  # numpy dtype name: "float32", "int32", ...

    @property
    def is_integer(self) -> bool:
        """Token ids, segment ids, masks: inputs that must stay integer, never be quantized."""
        return np.issubdtype(np.dtype(self.dtype), np.integer)

    @property
    def sample_shape(self) -> tuple[int | None, ...]:
        """The shape of one sample (without the batch axis)."""
        return self.shape[1:]


def _path_name(path: tuple[Any, ...]) -> str:
    return "/".join(str(p) for p in path)


def _unique(names: list[str]) -> list[str]:
    """Make repeated names unique with _1, _2, ... (two outputs of one nested model)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


def _names(struct: Any, tensors: list[Any]) -> list[str]:
    """Dict keys where the structure is a dict; else the names of the layers that made them."""
    from keras import tree

    if isinstance(struct, dict):
        return [_path_name(path) for path, _ in tree.flatten_with_path(struct)]
    return _unique([t._keras_history.operation.name for t in tensors])


@dataclass(frozen=True)
class Signature:
    """A model's inputs and outputs in the pipeline's flat order, and how to (un)flatten them."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    input_struct: Any  # the model's input structure with input indices as leaves

    @property
    def input_names(self) -> list[str]:
        """The inputs' names, in order."""
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The outputs' names, in order."""
        return [t.name for t in self.outputs]

    def structure(self, flat: list[Any]) -> Any:
        """Flat tensors (one per input, in order) as the structure the model is called with."""
        from keras import tree

        if len(flat) != len(self.inputs):
            raise ValueError(f"{len(flat)} input arrays for {len(self.inputs)} inputs")
        if not isinstance(self.input_struct, (dict, list, tuple)):
            return flat[0]
        return tree.pack_sequence_as(self.input_struct, list(flat))

    def pack(self, x: Inputs) -> Any:
        """Flat arrays as the model's input structure, each of its input's dtype."""
        return self.structure([np.asarray(a).astype(t.dtype, copy=False)
                               for a, t in zip(as_list(x), self.inputs)])

    @staticmethod
    def flatten(y: Any) -> list[np.ndarray]:
        """What the model returned (a tensor, list or dict, nested) as a flat list of arrays."""
        from keras import tree

        return [np.asarray(a) for a in tree.flatten(y)]

    def predict(self, model: Any, x: Inputs, batch_size: int = PREDICT_BATCH,
                stop: threading.Event | None = None) -> list[np.ndarray]:
        """The model's outputs on every sample of `x`, flat, in order (large models through
        XLA, when XLA compiles them). Setting `stop` from another thread ends an XLA predict
        after its current batch with PredictStopped."""
        if uses_xla(model, x):
            outputs = _predict_xla(self, model, as_list(x), stop)
            if outputs is not None:
                return outputs
        return self.flatten(model.predict(self.pack(x), batch_size=batch_size, verbose=0))

    def call(self, model: Any, x: Inputs) -> list[Any]:
        """One eager call of the model (layers run their Python code), outputs flat."""
        from keras import tree

        return tree.flatten(model(self.pack(x), training=False))


def describe(model: Any) -> Signature:
    """The signature of a functional Keras model (a wrapped subclassed one included)."""
    from keras import tree

    # A Sequential model has no structure of its own: one input, one output.
    in_struct = getattr(model, "_inputs_struct", None)
    in_struct = model.inputs[0] if in_struct is None else in_struct
    out_struct = getattr(model, "_outputs_struct", None)
    out_struct = model.outputs[0] if out_struct is None else out_struct
    in_tensors, out_tensors = tree.flatten(in_struct), tree.flatten(out_struct)
    inputs = [TensorInfo(n, tuple(t.shape), str(np.dtype(t.dtype)))
              for n, t in zip(_names(in_struct, in_tensors), in_tensors)]
    outputs = [TensorInfo(n, tuple(t.shape), str(np.dtype(t.dtype)))
               for n, t in zip(_names(out_struct, out_tensors), out_tensors)]
    counter = iter(range(len(in_tensors)))
    index_struct = tree.map_structure(lambda _: next(counter), in_struct)
    if not isinstance(in_struct, (dict, list, tuple)):
        index_struct = 0
    return Signature(inputs=inputs, outputs=outputs, input_struct=index_struct)


class PredictStopped(Exception):
    """A predict stopped from another thread."""


def uses_xla(model: Any, x: Inputs) -> bool:
    """Whether `predict` compiles the model with XLA: big models over many samples."""
    return model.count_params() >= XLA_MIN_PARAMETERS and count(x) >= XLA_MIN_SAMPLES


def _predict_xla(signature: Signature, model: Any, x: list[np.ndarray],
                 stop: threading.Event | None = None) -> list[np.ndarray] | None:
    """Predictions in fixed-size batches (the last one padded, so XLA compiles one shape), or
    None when XLA cannot compile the model (the caller falls back to Keras' predict)."""
    from pipeline.tfenv import tensorflow

    tf = tensorflow()
    call = tf.function(lambda inputs: model(inputs, training=False), jit_compile=True)
    n, parts = len(x[0]), []
    try:
        for start in range(0, n, XLA_BATCH):
            if stop is not None and stop.is_set():
                raise PredictStopped
            chunk = [a[start:start + XLA_BATCH] for a in x]
            short = XLA_BATCH - len(chunk[0])
            if short:
                chunk = [np.concatenate([a, np.repeat(a[-1:], short, axis=0)]) for a in chunk]
            outputs = signature.flatten(call(signature.pack(chunk)))
            parts.append([o[:XLA_BATCH - short] for o in outputs])
    except (tf.errors.OpError, ValueError, TypeError):
        return None
    return [np.concatenate(column) for column in zip(*parts)]
