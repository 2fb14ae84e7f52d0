"""Places that stand in for a device in tests, with behaviour a test can state exactly: the
project's own runner on this machine, started through a shim that makes every invoke take a
known time, or given a model whose one op computes differently (as another CPU's kernels
would). Install one with `use(monkeypatch, place)`; `--on fake` then names it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.device import places
from pipeline.device.places.base import Place, Session
from pipeline.progress import Reporter
from pipeline.tempdirs import temporary_directory

NAME = "fake"
# Runs `python -m edge ARGS` with each runtime's invoke slowed by INVOKE_S seconds (in the
# commands listed in SLOW, all when empty).
SHIM = """
import sys, time
from edge.runtimes import litert, tflite_runtime
INVOKE_S, SLOW = {invoke_s!r}, {slow!r}
def slowed(real):
    def load():
        cls, version = real()
        class Slow(cls):
            def invoke(self):
                time.sleep(INVOKE_S)
                return super().invoke()
        return (Slow if not SLOW or sys.argv[1] in SLOW else cls), version
    return load
for module in (litert, tflite_runtime):
    module.load = slowed(module.load)
from edge.__main__ import main
main(sys.argv[1:])
"""


class ShimSession(Session):
    """This machine, the runner started through the shim; optionally another model swapped in
    (the runner's sha256 check dropped: the swap is the point)."""

    where = "fake"

    def __init__(self, scratch: Path, place: FakeDevice) -> None:
        super().__init__(scratch)
        self.place = place

    def command(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        argv, env = super().command(args)
        args = list(args)
        swap = self.place.model and (self.place.perturb_reference
                                     or "reference" not in args)
        if swap:
            args[args.index("--model") + 1] = str(self.place.model)
            i = args.index("--sha256")
            del args[i:i + 2]
        code = SHIM.format(invoke_s=self.place.invoke_s, slow=list(self.place.slow))
        return [sys.executable, "-c", code, *args], env

    def describe(self) -> dict[str, Any]:
        return {"where": self.where, "cpu": "fake"}


class FakeDevice(Place):
    """A device with a known invoke time and, optionally, its own model."""

    name = NAME

    def __init__(self, invoke_s: float = 0.0, slow: tuple[str, ...] = (),
                 model: Path | None = None, perturb_reference: bool = True) -> None:
        self.invoke_s, self.slow = invoke_s, slow
        self.model, self.perturb_reference = model, perturb_reference

    @contextlib.contextmanager
    def session(self, reporter: Reporter) -> Iterator[Session]:
        with temporary_directory("fake") as tmp:
            yield ShimSession(Path(tmp), self)


def use(monkeypatch: Any, place: FakeDevice) -> None:
    """`--on fake` names `place` for the rest of the test."""
    real = places.get

    def get(spec: str, **kw: Any) -> Place:
        return place if spec == NAME else real(spec, **kw)

    monkeypatch.setattr(places, "get", get)


def perturb_bias(tflite: Path, out: Path, op_index: int, codes: int) -> Path:
    """A copy of the model whose op `op_index` (a FULLY_CONNECTED or CONV) adds `codes` output
    LSB to every output channel's bias: that op's output moves, the ops before it do not."""
    from pipeline.tflite import graph

    data = bytearray(tflite.read_bytes())
    g = graph.parse(bytes(data))
    op = g.ops[op_index]
    output = g.tensors[op.outputs[0]]
    model = graph.schema().Model.GetRootAs(data, 0)
    bias = model.Subgraphs(0).Tensors(op.inputs[2])
    scales = bias.Quantization().ScaleAsNumpy()  # per channel: input scale x weight scale
    values = model.Buffers(bias.Buffer()).DataAsNumpy().view(np.int32)  # a view into `data`
    values += np.round(codes * output.scale / scales).astype(np.int32)
    out.write_bytes(bytes(data))
    return out
