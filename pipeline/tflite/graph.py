"""Read a .tflite flatbuffer with TFLite's own schema (as ai-edge-litert ships it): ops, op
versions, tensor types, metadata."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline.errors import UserError

FLOAT_TYPES = frozenset({"FLOAT32", "FLOAT16", "FLOAT64"})


@dataclass(frozen=True)
class Tensor:
    """A tensor of the main subgraph."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]  # the shape with -1 where a dimension is dynamic
    scale: float | None
    zero_point: int | None


@dataclass(frozen=True)
class Op:
    """An operator of the main subgraph, with its tensors' indices."""

    name: str
    version: int
    code: int  # the builtin op code (GELU is 150)
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    """The parts of a TFLite model the checks and reports need."""

    ops: list[Op]
    tensors: list[Tensor]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    metadata: dict[str, str] = field(default_factory=dict)

    def op_counts(self) -> dict[str, int]:
        """Op name -> number of occurrences."""
        return dict(sorted(Counter(op.name for op in self.ops).items()))

    @cached_property
    def _written(self) -> frozenset[int]:
        """The tensors some op produces, and the model's inputs: computed once per graph."""
        return frozenset(t for op in self.ops for t in op.outputs) | frozenset(self.inputs)

    def is_constant(self, index: int) -> bool:
        """True for tensors no op produces and that are not model inputs (weights, biases)."""
        return index not in self._written

    def origin(self, op: Op) -> str:
        """The Keras layer path an op comes from, read off its output tensor's name (the TF
        name scopes Keras writes: `model_1/layer_1/.../Op`); the tensor name if it has none."""
        name = self.tensors[op.outputs[0]].name if op.outputs else ""
        return layer_scope(name) or name or f"op {self.ops.index(op)}"

    def op_versions(self) -> dict[str, int]:
        """Op name -> highest version used."""
        versions: dict[str, int] = {}
        for op in self.ops:
            versions[op.name] = max(op.version, versions.get(op.name, 0))
        return versions


_SCOPE = re.compile(r"^(.*)_\d+$")


def own_name(tensor_name: str) -> str:
    """The name of the op that wrote a tensor. A fused op's output is named after every op
    fused into it, ';'-joined, the one that writes it first: MiniLM's embeddings sum is
    "embeddings_add/Add_1;position_embedding/BroadcastTo;...", and it does not hold the
    position embedding's output."""
    return tensor_name.split(";")[0]


def layer_scope(tensor_name: str) -> str:
    """'model_1/block_1/dense_2_1/MatMul;...' -> 'model/block/dense_2': the name scopes Keras
    opens per layer call (each suffixed _<n>), without the op names after them."""
    parts = own_name(tensor_name).split("/")[:-1]
    last = max((i for i, p in enumerate(parts) if _SCOPE.match(p)), default=-1)
    return "/".join(_SCOPE.sub(r"\1", p) for p in parts[:last + 1])


def schema() -> Any:
    """TFLite's flatbuffer schema as ai-edge-litert ships it: reading a model needs neither
    TensorFlow nor its start-up time (0.3 s against 6-8 s)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _indices(values: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in values)


def parse(data: bytes, source: str = "model") -> Graph:
    """Parse TFLite flatbuffer bytes; anything that is not one is a UserError."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise UserError(f"{source} is not a TFLite flatbuffer (no 'TFL3' identifier)")
    s = schema()
    op_names = _enum_names(s.BuiltinOperator)
    type_names = _enum_names(s.TensorType)
    try:
        model = s.Model.GetRootAs(data, 0)
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            name = op_names.get(code, f"BUILTIN_{code}")
            if name == "CUSTOM":
                name = f"CUSTOM:{(oc.CustomCode() or b'').decode()}"
            codes.append((name, oc.Version(), code))
        sub = model.Subgraphs(0)
        tensors = []
        for i in range(sub.TensorsLength()):
            t = sub.Tensors(i)
            q = t.Quantization()
            scale = zp = None
            if q is not None and q.ScaleLength() > 0:
                scale, zp = float(q.Scale(0)), int(q.ZeroPoint(0))
            shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            signature = (tuple(int(d) for d in t.ShapeSignatureAsNumpy())
                         if t.ShapeSignatureLength() else shape)
            tensors.append(Tensor(name=(t.Name() or b"").decode(), dtype=type_names[t.Type()],
                                  shape=shape, signature=signature, scale=scale, zero_point=zp))
        ops = []
        for i in range(sub.OperatorsLength()):
            o = sub.Operators(i)
            name, version, code = codes[o.OpcodeIndex()]
            ops.append(Op(name=name, version=version, code=code,
                          inputs=_indices(o.InputsAsNumpy() if o.InputsLength() else ()),
                          outputs=_indices(o.OutputsAsNumpy() if o.OutputsLength() else ())))
        metadata = {}
        for i in range(model.MetadataLength()):
            md = model.Metadata(i)
            buf = model.Buffers(md.Buffer())
            raw = bytes(buf.DataAsNumpy()) if buf.DataLength() else b""
            metadata[md.Name().decode()] = raw.rstrip(b"\0").decode("utf-8", "replace")
        return Graph(ops=ops, tensors=tensors,
                     inputs=tuple(int(x) for x in sub.InputsAsNumpy()),
                     outputs=tuple(int(x) for x in sub.OutputsAsNumpy()), metadata=metadata)
    except UserError:
        raise
    except Exception as exc:  # a damaged flatbuffer fails in many ways inside the generated reader
        raise UserError(f"{source} is a damaged TFLite flatbuffer ({type(exc).__name__})") from None


def read(path: Path | str) -> Graph:
    """Parse a .tflite file; a missing or unreadable file is a UserError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    return parse(data, str(path))



def canonical_sha256(data: bytes) -> str:
    """A hash of what a model computes, not of its bytes. Each tensor is hashed from how it is
    made (a model input by position; a constant by its data; an op's output by the op, its
    options and its inputs' hashes), with its type, shape and quantization; the model's hash
    is its outputs'. The converter may order independent ops, and name the tensors between
    them, differently from run to run (it does with float layers among int8 ones): two models
    with the same hash differ in that only."""
    import hashlib

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    sub = model.subgraphs[0]

    def describe(t: Any) -> tuple:
        q = t.quantization
        quant = () if q is None or q.scale is None else (
            tuple(float(x) for x in q.scale), tuple(int(x) for x in q.zeroPoint))
        shape = () if t.shape is None else tuple(int(d) for d in t.shape)
        return (t.type, shape, quant)

    digest: dict[int, str] = {}
    for position, t in enumerate(_indices(sub.inputs)):
        digest[t] = repr(("input", position, describe(sub.tensors[t])))
    for t, tensor in enumerate(sub.tensors):
        buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
        if t not in digest and buf is not None and buf.data is not None and len(buf.data):
            digest[t] = repr(("constant", describe(tensor),
                              hashlib.sha256(bytes(buf.data)).hexdigest()))
    for op in sub.operators:
        code = model.operatorCodes[op.opcodeIndex]
        options = op.builtinOptions
        kind = (max(code.builtinCode, code.deprecatedBuiltinCode), code.version,
                code.customCode, op.builtinOptionsType,
                repr(sorted(vars(options).items())) if options is not None else "")
        inputs = tuple(digest.get(t, "absent") if t >= 0 else "none"
                       for t in _indices(op.inputs))
        for slot, t in enumerate(_indices(op.outputs)):
            made = repr(("op", kind, inputs, slot, describe(sub.tensors[t])))
            digest[t] = hashlib.sha256(made.encode()).hexdigest()
    outputs = [digest.get(t, "absent") for t in _indices(sub.outputs)]
    return hashlib.sha256(repr(outputs).encode()).hexdigest()
