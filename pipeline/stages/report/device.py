"""The report's "Device vs this machine" section: how many samples ran and why that many, what
they prove about the rate of differing samples, and where the two machines part ways in the
graph (the first op that differs, how the difference grows, the reference kernels' verdict)."""

from __future__ import annotations

from pipeline.device.budget import LIMITED_BY
from pipeline.records.parity import (
    DeviceBudget,
    DeviceComparison,
    DifferenceBound,
    Divergence,
    OpDifference,
    ParityRecord,
    RoundingReplay,
)
from pipeline.stages.report.blocks import Block, short

GROWTH_ROWS = 12  # rows of the growth table: the first difference, each new high, the output


def _percent(rate: float) -> str:
    value = 100 * rate
    return f"{value:.0f} %" if value >= 10 else f"{value:.2g} %"


def _time(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds >= 1 else f"{1000 * seconds:.3g} ms"


def bound_text(b: DifferenceBound) -> str:
    """What the compared samples prove, in a sentence."""
    if b.differing == 0:
        return (f"No difference in {b.samples} samples: the rate of samples whose outputs "
                f"differ is below 3/{b.samples} = {_percent(b.high)} at "
                f"{100 * b.confidence:.0f} % confidence (rule of three).")
    return (f"{b.differing} of {b.samples} samples differ: rate {_percent(b.rate)}, "
            f"{100 * b.confidence:.0f} % interval {_percent(b.low)} to {_percent(b.high)} "
            f"({b.method}).")


def _budget_text(b: DeviceBudget) -> str:
    timing = (f"{_time(b.device_invoke_s)} per invoke there ({b.processes} runner(s) on "
              f"disjoint samples), {_time(b.host_invoke_s)} here ({b.host_processes})"
              if b.device_invoke_s is not None and b.host_invoke_s is not None else "")
    ran = (f"{b.ran_samples} inputs ran" if b.ran_samples == b.planned_samples else
           f"only {b.ran_samples} of the {b.planned_samples} planned inputs ran (the device was "
           "slower than its probe said)")
    return (f"Time budget {b.budget_s / 60:.3g} min (--device-budget): {timing}; "
            f"{b.planned_samples} inputs planned, {LIMITED_BY.get(b.limited_by, b.limited_by)}; "
            f"{ran}; the device part took {b.spent_s:.0f} s.")


def _amount(r: OpDifference) -> str:
    return f"{r.max_diff:g}" + (" LSB" if r.unit == "LSB" else f" ({r.unit})")


def growth_rows(rows: list[OpDifference], limit: int = GROWTH_ROWS) -> list[OpDifference]:
    """The rows worth a table: the first difference, each op where the largest difference
    reaches a new high, and the last op (the output), at most `limit`."""
    if not rows:
        return []
    kept, high = [rows[0]], rows[0].max_diff
    for r in rows[1:-1]:
        if r.max_diff > high:
            kept.append(r)
            high = r.max_diff
    if len(rows) > 1:
        kept.append(rows[-1])
    return kept if len(kept) <= limit else kept[:limit - 1] + kept[-1:]


def rounding_line(r: RoundingReplay, op: str) -> str:
    """The integer replay of the first differing op: the rounding modes that give each side's
    output exactly."""
    def modes(names: list[str]) -> str:
        return " or ".join(names) if names else "no mode tried gives its output exactly"
    return (f"**Rounding replay of op {r.op_index} {op}** (in integer arithmetic here, once "
            f"per rounding mode, on its traced input, {r.values} values): device: "
            f"{modes(r.device)}; this machine: {modes(r.host)}.")


def _divergence(d: Divergence) -> list[Block]:
    blocks = [Block("h2", "Where the device and this machine part ways"),
              Block("p", f"Input {d.sample}, the first whose outputs differ, run again on both "
                         "sides with every intermediate tensor kept and compared op by op in "
                         "execution order. " + d.verdict)]
    if d.first is not None:
        f = d.first
        blocks.append(Block("p", f"**First op that differs: op {f.op_index} {f.op}** "
                                 f"(`{f.layer}`, tensor `{short(f.tensor_name)}`, {f.dtype}): "
                                 f"{f.differing} of {f.elements} values, by up to "
                                 f"{_amount(f)}."))
        blocks.append(Block("table", header=["op", "kind", "layer", "values differing",
                                             "share", "max difference"],
                            rows=[[r.op_index, r.op, r.layer, f"{r.differing} / {r.elements}",
                                   _percent(r.differing / r.elements) if r.elements else "—",
                                   _amount(r)] for r in growth_rows(d.growth)]))
        if d.rounding is not None:
            blocks.append(Block("p", rounding_line(d.rounding, f.op)))
    if d.hidden:
        blocks.append(Block("p", f"{len(d.hidden)} op outputs were overwritten by ops that ran "
                                 "in place (an ADD into its input, a SOFTMAX after it) and are "
                                 "not compared."))
    if d.note:
        blocks.append(Block("p", f"Note: {d.note}."))
    return blocks


def blocks(p: ParityRecord) -> list[Block]:
    """The section, empty when parity ran on this machine."""
    cmp: DeviceComparison | None = p.device_vs_host
    if not cmp:
        return []
    rt, host = p.runtime, cmp.host
    found = [Block("h2", "Device vs this machine"),
             Block("p", f"The same model and inputs on {rt.name} {rt.version} {rt.machine} "
                        f"({rt.where}) and on {host.name} {host.version} {host.machine} here:"),
             Block("table", header=["samples", "outputs", "differing outputs",
                                    "differing samples", "max difference (LSB)"],
                   rows=[[cmp.samples, cmp.outputs, cmp.differing_outputs,
                          cmp.differing_samples, cmp.max_diff_lsb]])]
    if cmp.bound is not None:
        found.append(Block("p", bound_text(cmp.bound)))
    if cmp.budget is not None:
        found.append(Block("p", _budget_text(cmp.budget)))
    first = cmp.first_difference
    if first:
        found.append(Block("p", f"First difference: sample {first.sample}, device "
                                f"{first.device[:8]}{' …' if len(first.device) > 8 else ''}, "
                                f"this machine {first.host[:8]}"
                                f"{' …' if len(first.host) > 8 else ''}."))
    if cmp.divergence is not None:
        found += _divergence(cmp.divergence)
    return found
