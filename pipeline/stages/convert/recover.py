"""`--recover`: keep the fewest layers in float that the quantized model needs to meet the gate.

On a CPU target (rpi, litert, host) a layer can run in float beside int8 ones: the converter's
own MLIR quantizer leaves chosen ops unquantized (`denylisted_nodes`; tflite-runtime 2.14 has no
int16 kernel for RSQRT, so float is the higher precision every CPU runtime here runs). The
layers are the name scopes of the calibrated graph (a Keras layer's ops, or a custom layer's
own ops such as its residual adds); layers that repeat per block (`block_3/ffn`) form a kind.

The search, on calibration samples (never the evaluation ones the gate reports), walks back from
float, because a transformer's error budget is spent by a few int8 kinds together: adding float
layers to an int8 model one kind at a time finds no single kind that helps enough (MiniLM:
its layer norms, residual adds or feed-forward Dense alone in int8 already break the gate).
1. the all-int8 model: if it passes, nothing is kept in float;
2. every layer in float: if that fails, no recovery can pass (the error is not the layers');
3. the sensitivity of each kind: the gate's figures with only that kind in int8;
4. kinds taken to int8 while the gate passes, those with the most multiply-accumulates per dB
   of damage first (the walk minimises the float share of MACs, which is what costs time);
   of a kind that cannot go whole, each layer, the last block first. The whole search, from
   the float model's reference outputs to the recovered model's latency, takes at most
   BUDGET_S seconds: the walk stops early enough to leave time for the finishing steps, and
   what it has not tried stays float.
Accelerator targets run integer only: there, recovery is the rewrites and the calibration.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.device import edge_client
from pipeline.errors import CheckFailed
from pipeline.gate import metrics
from pipeline.gate.thresholds import Thresholds, evaluate
from pipeline.inputs import batch
from pipeline.progress import Quiet, Reporter
from pipeline.records.convert import Recovery, RecoveryStep
from pipeline.records.parity import TaskResult
from pipeline.tempdirs import temporary_directory
from pipeline.tflite import calibrate
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import macs as tflite_macs

# Calibration samples the search measures on. Neighbour agreement is easier among fewer
# samples, so this is not much smaller than a real evaluation set.
DECISION_SAMPLES = 256
# The walk stops at the edge of the gate on the decision samples. Agreement figures (the same
# class, the same nearest neighbour) are counts over few samples, and a neighbour is easier to
# keep among fewer candidates, so on the decision samples they must clear this share of their
# headroom as well: a 95 % neighbour gate is searched at 97 %.
DECISION_MARGIN = 0.4
AGREEMENTS = ("min_top1_agreement", "min_neighbour_agreement")
LATENCY_REPEATS = 20
BUDGET_S = 300.0  # the whole search, MiniLM included, within 5 minutes
_INDEX = re.compile(r"_\d+(?=/|$)")


@dataclass(frozen=True)
class Unit:
    """A layer of the calibrated graph: its scope, the names of its ops' outputs and the
    multiply-accumulates of its matrix ops (one sample)."""

    scope: str
    nodes: tuple[str, ...]
    macs: int = 0

    @property
    def kind(self) -> str:
        """The scope with block numbers as *: transformer_layer_*/feedforward_layer_norm."""
        return _INDEX.sub("_*", self.scope)


def units(graph: tflite_graph.Graph) -> list[Unit]:
    """The layers whose ops the quantizer can leave in float, in graph order."""
    found: dict[str, tuple[list[str], list[int]]] = {}
    for op in graph.ops:
        if op.name in ("QUANTIZE", "DEQUANTIZE") or not op.outputs:
            continue
        names, macs = found.setdefault(graph.origin(op), ([], []))
        names.extend(graph.tensors[t].name for t in op.outputs)
        macs.append(tflite_macs.macs(graph, op))
    return [Unit(scope, tuple(names), sum(macs)) for scope, (names, macs) in found.items()
            if scope]


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

    def measure(self, data: bytes) -> Trial:
        """The gate's verdict and figures for this model on the decision samples."""
        with temporary_directory("recover") as tmp:
            path = Path(tmp) / "m.tflite"
            path.write_bytes(data)
            try:
                arrays, _ = edge_client.run(path, self.x, self.runtime, Quiet())
            except CheckFailed as exc:  # an op mix the runtime has no kernel for
                return Trial(False, None, f"cannot run: {str(exc).splitlines()[0]}")
        passed, worst, shown = True, np.inf, []
        for i, (name, ref) in enumerate(zip(self.names, self.reference)):
            got = arrays[f"y{i}"].reshape(ref.shape)
            found = metrics.compare(ref, got, None)
            task = TaskResult(kind=None, metric=None,
                              top1_agreement=self.agreement(ref, got) if self.agreement else None)
            # Float outputs here, so no LSB limit applies; the rest of the gate does.
            rows = evaluate(self.thresholds, found, task, name)
            passed &= all(r.passed for r in rows)
            worst = min(worst, found.snr_db if found.snr_db is not None else np.inf)
            shown += [f"{r.threshold} {r.value:.4g}" for r in rows
                      if r.threshold != "min_snr_db" and r.value is not None]
        return Trial(passed, float(worst), ", ".join(shown))


@dataclass(frozen=True)
class Trial:
    """One measurement: the gate passes, the worst output SNR, the gate's other figures."""

    passed: bool
    snr_db: float | None  # None when the runtime could not run the model
    figures: str = ""


def _snr(trial: Trial) -> float:
    return trial.snr_db if trial.snr_db is not None else -np.inf


def _latency(data: bytes, runtime: str) -> float:
    with temporary_directory("recover") as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(data)
        return float(edge_client.bench(path, runtime, LATENCY_REPEATS)["min_ms"])


def search(judge: Judge, graph: tflite_graph.Graph, reporter: Reporter,
           started: float | None = None, budget_s: float = BUDGET_S) -> tuple[bytes, Recovery]:
    """The model with the fewest float layers found that passes on the decision samples (the
    all-int8 one when even all-float fails), and what the search did, within `budget_s` seconds
    of `started` (time.monotonic(); now when not given)."""
    started = time.monotonic() if started is None else started
    every = units(graph)
    steps: list[RecoveryStep] = []

    seen: dict[frozenset[str], Trial] = {}

    def trial(action: str, int8: list[Unit], data: bytes | None = None) -> Trial:
        key = frozenset(u.scope for u in int8)
        if key not in seen:  # the first kind taken back is its own sensitivity trial
            seen[key] = judge.measure(data if data is not None else
                                      judge.model([u for u in every if u not in int8]))
            steps.append(RecoveryStep(action=action, snr_db=seen[key].snr_db,
                                      passed=seen[key].passed, figures=seen[key].figures))
        return seen[key]

    tick = time.monotonic()
    int8_model = judge.model([])
    first = trial("all int8", every, int8_model)
    one_trial_s = time.monotonic() - tick
    int8, final, float_ms = list(every), first, None
    if not first.passed:
        float_model = judge.model(every)
        floated = trial("all float", [], float_model)
        if floated.passed:
            tick = time.monotonic()
            float_ms = _latency(float_model, judge.runtime)
            latency_s = time.monotonic() - tick
            # A trial started just before the deadline ends one trial after it; then the
            # recovered model is made once more and two latencies are measured.
            deadline = started + budget_s - 2 * one_trial_s - 2 * latency_s
            int8, final = _walk(every, trial, reporter, floated, deadline)
        else:
            reporter.warn("recover: even with every layer in float the gate fails on the "
                          f"decision samples ({floated.figures or 'the model cannot run'}), so "
                          "no layer can recover it: the int8 inputs and outputs, the GELU "
                          "approximation or a rewrite cost more than the gate allows; the model "
                          "stays all int8")
    kept = [u for u in every if u not in int8]
    data = judge.model(kept) if kept else int8_model
    int8_ms = _latency(int8_model, judge.runtime)
    recovered_ms = _latency(data, judge.runtime) if kept else int8_ms
    total = sum(u.macs for u in every)
    record = Recovery(
        kept_float=[u.scope for u in kept], float_nodes=[n for u in kept for n in u.nodes],
        passed_on_decision=final.passed,
        decision_samples=batch.count(judge.x), decision_margin=DECISION_MARGIN,
        int8_snr_db=first.snr_db,
        recovered_snr_db=final.snr_db, int8_figures=first.figures,
        recovered_figures=final.figures,
        float_mac_share=sum(u.macs for u in kept) / total if total else 0.0,
        int8_ms=int8_ms, recovered_ms=recovered_ms,
        float_ms=float_ms,
        runtime=judge.runtime, steps=steps, budget_s=budget_s,
        search_s=time.monotonic() - started)
    return data, record


def _order(kinds: dict[str, list[Unit]], alone: dict[str, Trial], floated: Trial) -> list[str]:
    """The kinds in the order the walk takes them to int8: those that pass alone first; among
    them the most multiply-accumulates per dB they cost (the float share of MACs is what the
    walk minimises), then the kinds without MACs, least sensitive first."""
    def cost(kind: str) -> float:
        return max(_snr(floated) - _snr(alone[kind]), 1e-3)

    def macs(kind: str) -> int:
        return sum(u.macs for u in kinds[kind])

    return sorted(kinds, key=lambda k: (not alone[k].passed, macs(k) == 0,
                                        -macs(k) / cost(k), -_snr(alone[k])))


def _walk(every: list[Unit], trial: Callable[[str, list[Unit]], Trial], reporter: Reporter,
          final: Trial, deadline: float) -> tuple[list[Unit], Trial]:
    """From all-float: each kind to int8 while the gate passes (`_order`); layer by layer (the
    last first) where a whole kind cannot go; until time.monotonic() reaches `deadline`, after
    which what is left stays float."""
    kinds: dict[str, list[Unit]] = {}
    for unit in every:
        kinds.setdefault(unit.kind, []).append(unit)
    alone: dict[str, Trial] = {}
    with reporter.task("recover: sensitivity per kind of layer", len(kinds)) as advance:
        for kind, members in kinds.items():
            if time.monotonic() > deadline:
                break
            alone[kind] = trial(f"sensitivity {kind}", members)
            advance(1)
    # A kind whose sensitivity the budget left unmeasured stays float.
    order = _order({k: kinds[k] for k in alone}, alone, final)
    int8: list[Unit] = []
    with reporter.task("recover: layers back to int8", len(order)) as advance:
        for kind in order:
            if time.monotonic() > deadline:
                reporter.warn(f"recover: stopped at its time budget ({BUDGET_S:.0f} s for the "
                              "whole search); the layers not tried stay in float")
                break
            members = kinds[kind]
            # A kind that fails alone fails beside others too: try its layers one by one.
            tries = [members] if alone[kind].passed else []
            if len(members) > 1:
                tries += [[u] for u in reversed(members)]
            for group in tries:
                if all(u in int8 for u in group) or time.monotonic() > deadline:
                    continue
                label = kind if len(group) > 1 else group[0].scope
                found = trial(f"int8 {label}", int8 + group)
                if found.passed:
                    int8 += group
                    final = found
                    shown = ", ".join(x for x in (found.figures, f"{found.snr_db:.2f} dB") if x)
                    reporter.info(f"recover: {label} in int8 passes ({shown})")
            advance(1)
    return int8, final


def with_margin(thresholds: Thresholds) -> Thresholds:
    """The gate the search decides by: agreement limits raised by DECISION_MARGIN of their
    headroom, the others as they are."""
    def tighten(name: str, value: float | None) -> float | None:
        return value + DECISION_MARGIN * (1.0 - value) if name in AGREEMENTS and value is not None \
            else value

    return replace(thresholds, **{n: tighten(n, getattr(thresholds, n)) for n in AGREEMENTS},
                   outputs={o: {n: tighten(n, v) for n, v in limits.items()}
                            for o, limits in thresholds.outputs.items()})


def judge_for(model: Any, calibrated: calibrate.Calibrated, mode: str,
              ranges: dict[int, tuple[float, float]], calib_x: batch.Inputs,
              thresholds: Thresholds, agreement: Any, runtime: str) -> Judge:
    """A judge on the first DECISION_SAMPLES calibration samples against the float model."""
    from pipeline.inputs.signature import describe

    x = batch.take(calib_x, slice(0, DECISION_SAMPLES))
    signature = describe(model)
    return Judge(calibrated=calibrated, mode=mode, ranges=ranges, x=x,
                 reference=signature.predict(model, x),
                 thresholds=with_margin(thresholds),
                 names=signature.output_names, agreement=agreement, runtime=runtime)
