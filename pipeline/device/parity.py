"""Parity off this machine (`--on emulated-pi`, `--on ssh://`): time a few invokes on the device
and here, fit the sample counts to `--device-budget` (unless the user gave them), run the
device (two runners on disjoint samples where it has the cores) and this machine on the same
inputs, compare their raw outputs, say what that many samples prove, and localise the first
difference in the graph."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.kernels import OPTIMIZED, REFERENCE
from pipeline import artifacts
from pipeline.context import Context
from pipeline.device import budget, places
from pipeline.device.bound import bound
from pipeline.device.compare import compare_raw
from pipeline.device.divergence import localise
from pipeline.device.edge_client import LOCAL
from pipeline.device.edge_session import Staged, Trace, probe, run_split, trace
from pipeline.errors import CheckFailed
from pipeline.inputs import batch
from pipeline.inputs.data import Dataset
from pipeline.progress import Reporter
from pipeline.records.parity import DeviceBudget, DeviceComparison, Divergence, HostRun
from pipeline.tflite.graph import Graph

BUDGET_FLAG = "--device-budget"


@dataclass
class DeviceResult:
    """The device's outputs of the eval samples parity reports on, its runner's info, and the
    comparison with this machine."""

    arrays: dict[str, np.ndarray]
    about: dict[str, Any]
    comparison: DeviceComparison

    @property
    def samples(self) -> int:
        """Eval samples the arrays hold."""
        return len(self.arrays["y_raw0"])


def comparison_pool(data: Dataset, x_eval: batch.Inputs) -> batch.Inputs:
    """Every input the comparison may use: the eval samples first, then the train and
    calibration samples."""
    return batch.concat([x_eval] + [a for a in (data.x_train, data.x_calib) if a is not None])


def _raw_outputs(arrays: dict[str, np.ndarray], n_outputs: int) -> np.ndarray:
    """Every output's raw values side by side, one row per sample."""
    raws = [arrays[f"y_raw{i}"] for i in range(n_outputs)]
    return np.concatenate([r.reshape(len(r), -1) for r in raws], axis=1)


def _costs(device: Any, host: Any) -> budget.Costs:
    return budget.Costs(device_invoke_s=device.invoke_s, device_start_s=device.start_s,
                        host_invoke_s=host.invoke_s, host_start_s=host.start_s,
                        processes=min(budget.MAX_PROCESSES, device.cpus),
                        host_processes=min(budget.MAX_PROCESSES, host.cpus))


def _say_plan(plan: budget.Plan, costs: budget.Costs, budget_s: float, where: str,
              reporter: Reporter) -> None:
    reporter.info(f"{where}: {costs.device_invoke_s:.3g} s per invoke ({costs.processes} "
                  f"runner(s)), here {costs.host_invoke_s:.3g} s; {plan.compare_samples} inputs "
                  f"on both ({plan.parity_samples} eval samples for parity), about "
                  f"{plan.estimated_s / 60:.1f} min of the {budget_s / 60:.1f} min "
                  f"{BUDGET_FLAG} ({budget.LIMITED_BY[plan.limited_by]})")
    if plan.limited_by == "given" and plan.estimated_s > budget_s:
        reporter.warn(f"the sample counts given take about {plan.estimated_s / 60:.1f} min on "
                      f"{where}, past the {budget_s / 60:.1f} min {BUDGET_FLAG}; they run in "
                      "full")


def run(ctx: Context, x_eval: batch.Inputs, runtime: str, on: places.OnOptions,
        samples: int | None, reporter: Reporter) -> DeviceResult:
    """Parity's quantized run on the device, and the device-vs-host comparison."""
    started = time.monotonic()
    place = on.place()
    model = ctx.out / artifacts.MODEL_TFLITE
    pool = comparison_pool(ctx.data, x_eval)
    with place.session(reporter) as session, LOCAL.session(reporter) as here:
        device = Staged.stage(session, model, place.name)
        host = Staged.stage(here, model, "this machine")
        reporter.info(f"timing the model on {place.name} and here")
        costs = _costs(probe(device, runtime, on.run_timeout, budget.MAX_PROCESSES),
                       probe(host, runtime, on.run_timeout, budget.MAX_PROCESSES))
        plan = budget.plan(costs, on.device_budget_s, time.monotonic() - started,
                           batch.count(x_eval), batch.count(pool), samples, on.compare_samples)
        _say_plan(plan, costs, on.device_budget_s, place.name, reporter)
        x_all = batch.take(pool, slice(0, plan.compare_samples))
        ran = run_split(device, x_all, runtime, reporter, on.run_timeout, costs.processes,
                        plan.device_deadline_s, on.delegate)
        if ran.done < plan.compare_samples:
            reporter.warn(f"{place.name} ran slower than its probe said: {BUDGET_FLAG} ran out "
                          f"after {ran.done} of {plan.compare_samples} inputs")
        x_done = batch.take(x_all, slice(0, ran.done))
        here_ran = run_split(host, x_done, runtime, reporter, on.run_timeout,
                             costs.host_processes)
        n_out = int(ran.about.get("outputs", 1))
        comparison = compare_raw(_raw_outputs(ran.arrays, n_out),
                                 _raw_outputs(here_ran.arrays, n_out),
                                 ran.about["output_quantization"][0],
                                 HostRun(**{k: here_ran.about[k]
                                            for k in ("name", "version", "machine")}))
        divergence = None
        if comparison.first_difference is not None:
            i = comparison.first_difference.sample
            left = on.device_budget_s - (time.monotonic() - started)
            divergence = _localise(
                ctx.graph(), device, host, batch.take(x_done, slice(i, i + 1)), i, runtime,
                [ran.arrays[f"y_raw{k}"][i] for k in range(n_out)],
                [here_ran.arrays[f"y_raw{k}"][i] for k in range(n_out)],
                min(on.run_timeout, max(left, costs.reference_trace_s())), on.run_timeout,
                reporter)
    record = DeviceBudget(
        budget_s=on.device_budget_s, device_invoke_s=costs.device_invoke_s,
        device_start_s=costs.device_start_s, host_invoke_s=costs.host_invoke_s,
        processes=costs.processes, host_processes=costs.host_processes,
        limited_by=plan.limited_by, planned_samples=plan.compare_samples, ran_samples=ran.done,
        estimated_s=plan.estimated_s, spent_s=time.monotonic() - started)
    comparison = comparison.model_copy(update={
        "bound": bound(comparison.differing_samples, comparison.samples), "budget": record,
        "divergence": divergence})
    parity_n = min(plan.parity_samples, ran.done)
    arrays = {k: v[:parity_n] for k, v in ran.arrays.items()}
    return DeviceResult(arrays, {**ran.about, "samples": parity_n}, comparison)


def _localise(graph: Graph, device: Staged, host: Staged, x: batch.Inputs, sample: int,
              runtime: str, device_run: list[np.ndarray], host_run: list[np.ndarray],
              reference_timeout: float, run_timeout: float, reporter: Reporter) -> Divergence:
    """Trace the sample on both sides (optimized kernels), then on the reference kernels
    within what is left of the budget; the first differing op, if an int8 FULLY_CONNECTED,
    replayed here on its traced input (a model input, for the first op)."""
    indices = sorted({t for op in graph.ops for t in op.outputs} | set(graph.inputs))
    reporter.info(f"localising the difference: input {sample} with every tensor kept on "
                  f"{device.name} and here, optimized kernels, then reference kernels")
    traced = [trace(side, x, runtime, indices, [OPTIMIZED], run_timeout, "--run-timeout")[0]
              for side in (device, host)]
    reference: list[Trace] | None = None
    note = None
    try:
        reference = [trace(side, x, runtime, indices, [REFERENCE], reference_timeout,
                           BUDGET_FLAG)[0] for side in (device, host)]
    except CheckFailed as exc:
        note = f"the reference-kernel run failed: {exc}"
        reporter.warn(note)
    return localise(graph, sample, traced[0], traced[1], device_run, host_run,
                    reference[0] if reference else None, reference[1] if reference else None,
                    note, model=host.model)
