"""What the float islands of an int8 model cost on a CPU runtime: the islands' ops cut out as a
model of their own (pipeline.tflite.slice) and timed against the whole model, on the target's
runtime, one thread, the fastest of several invokes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.device import edge_client
from pipeline.errors import CheckFailed
from pipeline.tempdirs import temporary_directory
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.checks import float_ops
from pipeline.tflite.slice import submodel

REPEATS = 30


@dataclass(frozen=True)
class IslandCost:
    """Milliseconds of the islands alone and of the whole model, and their ratio."""

    islands_ms: float
    model_ms: float

    @property
    def share(self) -> float:
        """The islands' share of an invoke."""
        return self.islands_ms / self.model_ms if self.model_ms > 0 else 0.0

    def describe(self, runtime: str) -> str:
        """One sentence for the check's message."""
        return (f"On {runtime} they take {100 * self.share:.1f} % of an invoke "
                f"({self.islands_ms:.3f} of {self.model_ms:.3f} ms, one thread).")


def cost(model: Path, graph: tflite_graph.Graph, runtime: str) -> IslandCost | None:
    """The float islands' latency against the model's; None without islands."""
    ops = float_ops(graph)
    if not ops:
        return None
    try:
        with temporary_directory("islands") as tmp:
            part = Path(tmp) / "islands.tflite"
            part.write_bytes(submodel(model.read_bytes(), ops))
            islands = edge_client.bench(part, runtime, REPEATS)["min_ms"]
        whole = edge_client.bench(model, runtime, REPEATS)["min_ms"]
    except CheckFailed:  # the runtime cannot run the model (or the islands alone): no figure
        return None
    return IslandCost(islands_ms=float(islands), model_ms=float(whole))
