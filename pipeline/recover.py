"""`--recover`: keep the fewest layers in float that the quantized model needs to meet the gate.

On a CPU target (rpi, litert, host) a layer can run in float beside int8 ones: the converter's
own MLIR quantizer leaves chosen ops unquantized (`denylisted_nodes`; tflite-runtime 2.14 has no
int16 kernel for RSQRT, so float is the higher precision every CPU runtime here runs). The
layers are the name scopes of the calibrated graph (a Keras layer's ops, or a custom layer's
own ops such as its residual adds); layers that repeat per block (`block_3/ffn`) form a kind.

The search, on calibration samples (never the evaluation ones the gate reports):
1. the sensitivity of each kind: the gate's figures with that kind alone in float;
2. kinds added, most helpful first, until the gate passes;
3. each layer of the chosen kinds taken back to int8 while the gate still passes.
Accelerator targets run integer only: there, recovery is the rewrites and the calibration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import edge_client
from pipeline.inputs import batch
from pipeline.parity import metrics
from pipeline.parity.thresholds import Thresholds, evaluate
from pipeline.progress import Quiet, Reporter
from pipeline.records.convert import Recovery, RecoveryStep
from pipeline.records.parity import TaskResult
from pipeline.tempdirs import temporary_directory
from pipeline.tflite import calibrate
from pipeline.tflite import graph as tflite_graph

DECISION_SAMPLES = 128  # calibration samples the search measures on
MAX_KINDS = 24  # kinds measured for sensitivity, the most numerous first
LATENCY_REPEATS = 20
_INDEX = re.compile(r"_\d+(?=/|$)")


@dataclass(frozen=True)
class Unit:
    """A layer of the calibrated graph: its scope and the names of its ops' outputs."""

    scope: str
    nodes: tuple[str, ...]

    @property
    def kind(self) -> str:
        """The scope with block numbers as *: transformer_layer_*/feedforward_layer_norm."""
        return _INDEX.sub("_*", self.scope)


def units(graph: tflite_graph.Graph) -> list[Unit]:
    """The layers whose ops the quantizer can leave in float, in graph order."""
    found: dict[str, list[str]] = {}
    for op in graph.ops:
        if op.name in ("QUANTIZE", "DEQUANTIZE") or not op.outputs:
            continue
        scope = graph.origin(op)
        found.setdefault(scope, []).extend(graph.tensors[t].name for t in op.outputs)
    return [Unit(scope, tuple(names)) for scope, names in found.items() if scope]


@dataclass
class Judge:
    """Quantizes with some units in float and measures the result on the decision samples."""

    calibrated: calibrate.Calibrated
    mode: str
    ranges: dict[int, tuple[float, float]]
    x: batch.Inputs
    reference: list[np.ndarray]
    thresholds: Thresholds
    names: list[str]
    agreement: Callable[[np.ndarray, np.ndarray], float] | None
    runtime: str

    def model(self, kept: list[Unit]) -> bytes:
        """The quantized model with these units in float."""
        nodes = [n for u in kept for n in u.nodes]
        return calibrate.quantize(self.calibrated, self.mode, self.ranges, nodes)

    def measure(self, data: bytes) -> tuple[bool, float]:
        """(the gate passes, the worst output SNR) on the decision samples."""
        with temporary_directory("recover") as tmp:
            path = Path(tmp) / "m.tflite"
            path.write_bytes(data)
            arrays, _ = edge_client.run(path, self.x, self.runtime, Quiet())
        passed, worst = True, np.inf
        for i, (name, ref) in enumerate(zip(self.names, self.reference)):
            got = arrays[f"y{i}"].reshape(ref.shape)
            found = metrics.compare(ref, got, None)
            task = TaskResult(kind=None, metric=None,
                              top1_agreement=self.agreement(ref, got) if self.agreement else None)
            # Float outputs here, so no LSB limit applies; the rest of the gate does.
            rows = evaluate(self.thresholds, found, task, name)
            passed &= all(r.passed for r in rows)
            worst = min(worst, found.snr_db if found.snr_db is not None else np.inf)
        return passed, float(worst)


def _latency(data: bytes, runtime: str) -> float:
    with temporary_directory("recover") as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(data)
        return float(edge_client.bench(path, runtime, LATENCY_REPEATS)["min_ms"])


def search(judge: Judge, graph: tflite_graph.Graph, reporter: Reporter) -> tuple[bytes, Recovery]:
    """The model with the fewest float layers that passes on the decision samples (or the most
    helpful ones found, when nothing passes), and what the search did."""
    int8 = judge.model([])
    passed, base_snr = judge.measure(int8)
    steps: list[RecoveryStep] = []
    chosen: list[Unit] = []
    if not passed:
        kinds: dict[str, list[Unit]] = {}
        for unit in units(graph):
            kinds.setdefault(unit.kind, []).append(unit)
        ranked = sorted(kinds, key=lambda k: -len(kinds[k]))[:MAX_KINDS]
        gains = []
        with reporter.task("recover: sensitivity per kind of layer", len(ranked)) as advance:
            for kind in ranked:
                ok, snr = judge.measure(judge.model(kinds[kind]))
                gains.append((snr - base_snr, kind))
                steps.append(RecoveryStep(action=f"sensitivity {kind}", snr_db=snr, passed=ok))
                advance(1)
        for gain, kind in sorted(gains, reverse=True):
            if gain <= 0:
                break
            chosen += kinds[kind]
            passed, snr = judge.measure(judge.model(chosen))
            steps.append(RecoveryStep(action=f"+ {kind}", snr_db=snr, passed=passed))
            reporter.info(f"recover: {kind} in float -> {snr:.2f} dB"
                          f"{', passes' if passed else ''}")
            if passed:
                break
        if passed:
            for unit in list(reversed(chosen)):
                trial = [u for u in chosen if u is not unit]
                ok, snr = judge.measure(judge.model(trial))
                if ok:
                    chosen = trial
                    steps.append(RecoveryStep(action=f"- {unit.scope}", snr_db=snr, passed=ok))
    data = judge.model(chosen) if chosen else int8
    final_passed, final_snr = judge.measure(data) if chosen else (passed, base_snr)
    record = Recovery(
        kept_float=[u.scope for u in chosen], passed_on_decision=final_passed,
        decision_samples=batch.count(judge.x), int8_snr_db=base_snr, recovered_snr_db=final_snr,
        int8_ms=_latency(int8, judge.runtime), recovered_ms=_latency(data, judge.runtime),
        runtime=judge.runtime, steps=steps)
    return data, record


def judge_for(model: Any, calibrated: calibrate.Calibrated, mode: str,
              ranges: dict[int, tuple[float, float]], calib_x: batch.Inputs,
              thresholds: Thresholds, agreement: Any, runtime: str) -> Judge:
    """A judge on the first DECISION_SAMPLES calibration samples against the float model."""
    from pipeline.inputs.signature import describe

    x = batch.take(calib_x, slice(0, DECISION_SAMPLES))
    signature = describe(model)
    return Judge(calibrated=calibrated, mode=mode, ranges=ranges, x=x,
                 reference=signature.predict(model, x), thresholds=thresholds,
                 names=signature.output_names, agreement=agreement, runtime=runtime)
