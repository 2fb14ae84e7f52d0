"""Parity's part for a coral chain (segments.json): the chain run against model.tflite on the
same samples and place (here on every evaluation sample, on a device as many as
--device-budget leaves), and the target check of its Edge TPU segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.device import places
from pipeline.inputs import batch
from pipeline.progress import Reporter
from pipeline.records import CheckResult
from pipeline.records.parity import DeviceComparison, RuntimeFailure
from pipeline.records.segments import SegmentChain
from pipeline.targets.base import Compat

# A chain checked on a device: at least this many of the samples the device ran, more while
# --device-budget lasts (the chain costs what model.tflite costs there, plus its transfers).
DEVICE_CHAIN_MIN_SAMPLES = 8


def affordable(ran: int, comparison: DeviceComparison | None) -> int:
    """How many of the `ran` device samples its chain run can afford within --device-budget."""
    budget = comparison.budget if comparison is not None else None
    if budget is None or not budget.device_invoke_s:
        return ran
    left = budget.budget_s - budget.spent_s - (budget.device_start_s or 0.0)
    return max(min(ran, DEVICE_CHAIN_MIN_SAMPLES), min(ran, int(left / budget.device_invoke_s)))


def checked(out: Path, chain: SegmentChain | None, arrays: dict[str, np.ndarray],
            comparison: DeviceComparison | None, x: batch.Inputs, runtime: str,
            on: places.OnOptions, failure: RuntimeFailure | None, reporter: Reporter
            ) -> SegmentChain | None:
    """A coral chain run against model.tflite's outputs (`arrays`) on the same samples and
    place: here on every evaluation sample, on a device (`--on`) on as many of the samples it
    ran as the budget leaves. The gate's figures are then the chain's. When the runtime
    failed, the convert stage's check on a few samples stands."""
    if chain is None or len(chain.segments) == 1 or failure is not None:
        return chain
    from pipeline.device import chain as chain_check

    if on.on == places.LOCAL:
        found = chain_check.compare(out, arrays, x, runtime, reporter)
    else:
        ran = len(arrays["y_raw0"])
        n = affordable(ran, comparison)
        reporter.info(f"the chain on {on.on}: {n} of the {ran} samples model.tflite ran there")
        found = chain_check.compare(out, arrays, batch.take(x, slice(0, n)), runtime, reporter,
                                    on.place(), on.run_timeout)
    return chain.model_copy(update={"chain_check": found})


def target_check(compat: Compat, chain: SegmentChain | None) -> CheckResult:
    """The target's check of model.tflite; for a coral chain, of its Edge TPU segments (the
    host segments run on the CPU by design) and the chain's agreement with model.tflite."""
    if chain is None or len(chain.segments) == 1:
        return CheckResult(name="target_compatible", passed=compat.compatible,
                           message=compat.summary)
    if chain.rejected:
        return CheckResult(name="target_compatible", passed=False,
                           message=f"{chain.rejected[0]}; on the host, beside the Edge TPU "
                                   "segments, it would cost a transfer each way per use. "
                                   f"model.tflite as one model: {compat.summary}")
    tpu = [s for s in chain.segments if s.side == "accelerator"]
    failed = [s for s in tpu if s.check != "passed"]
    same = chain.chain_check is not None and chain.chain_check.equal
    text = (f"segments.json: {len(tpu)} Edge TPU segment(s) of {len(chain.segments)}, "
            f"{100 * chain.accelerator_mac_share:.1f} % of the multiply-accumulates; "
            + (f"{len(failed)} fail the static check (first: {failed[0].file}: "
               f"{failed[0].check})" if failed else "each passes the static check")
            + ("" if same else "; the chain does not give model.tflite's outputs")
            + f". model.tflite as one model: {compat.summary}")
    return CheckResult(name="target_compatible", passed=bool(tpu) and not failed and same,
                       message=text)
