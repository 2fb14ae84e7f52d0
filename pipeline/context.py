"""What one run of gelu-edge opens once and hands to every stage: the data, the float model, the
replaced model, the converted model's bytes and graph, and the stages' records.

`build` fills it as the stages run (the trained or loaded model is the float reference, the
approximate stage hands on the model it reloaded and checked, the convert stage the bytes it
wrote). A stage run alone starts from an empty context on its build folder and opens what it
needs from there, each thing once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline import artifacts
from pipeline.inputs.data import Dataset
from pipeline.records.base import Record
from pipeline.tflite import graph as tflite_graph

if TYPE_CHECKING:  # a type only: the parity stage imports this module
    from pipeline.stages.parity.prefetch import Prefetch

R = TypeVar("R", bound=Record)


@dataclass
class Context:
    """A build folder and what has been opened from it (or made for it) in this run."""

    out: Path
    data: Dataset | None = None
    float_model: Any | None = None
    approx_model: Any | None = None
    tflite: bytes | None = None
    # The float models' outputs on the evaluation samples, computed while the converter runs
    # (build starts it after the approximate stage; parity takes it).
    prefetched: Prefetch | None = None
    records: dict[type, Record] = field(default_factory=dict)
    _graph: tflite_graph.Graph | None = None

    def record(self, kind: type[R]) -> R:
        """A stage's record: the one this run wrote, or read from the folder once."""
        if kind not in self.records:
            self.records[kind] = kind.load(self.out)
        return self.records[kind]  # type: ignore[return-value]

    def keep(self, record: R) -> R:
        """Save a stage's record into the folder and keep it for the later stages."""
        record.save(self.out)
        self.records[type(record)] = record
        return record

    def reference(self) -> Any:
        """The float reference model (model_float.keras), opened once."""
        if self.float_model is None:
            from pipeline.inputs.models import load_model

            path = artifacts.require(self.out, artifacts.MODEL_FLOAT, "train")
            self.float_model = load_model(path)
        return self.float_model

    def replaced(self) -> Any:
        """The model with GELU replaced (model_approx.keras), opened once."""
        if self.approx_model is None:
            from pipeline import rewrites
            from pipeline.records import ApproximateRecord

            path = artifacts.require(self.out, artifacts.MODEL_APPROX, "approximate")
            self.approx_model = rewrites.load(path, self.record(ApproximateRecord))
        return self.approx_model

    def tflite_bytes(self) -> bytes:
        """model.tflite's bytes, read once."""
        if self.tflite is None:
            path = artifacts.require(self.out, artifacts.MODEL_TFLITE, "convert")
            self.tflite = artifacts.read_bytes(path)
        return self.tflite

    def graph(self) -> tflite_graph.Graph:
        """model.tflite's graph, parsed once."""
        if self._graph is None:
            self._graph = tflite_graph.parse(self.tflite_bytes(),
                                             str(self.out / artifacts.MODEL_TFLITE))
        return self._graph

    def converted(self, data: bytes, graph: tflite_graph.Graph) -> None:
        """The convert stage made new bytes and parsed them."""
        self.tflite, self._graph = data, graph
