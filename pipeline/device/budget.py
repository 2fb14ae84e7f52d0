"""How many samples a device run can afford (`--device-budget`): from a few timed invokes on the
device and here, the samples that parity and the device-vs-host comparison can run so that the
whole device part (probes, the device runs, the same inputs here, and localising a difference)
fits the budget. Pure functions: the caller measures, this module decides.

The device runs the first N inputs of one list (the eval samples first, then the train and
calibration samples); parity uses the eval samples among them, the comparison all N.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pipeline.device import places
from pipeline.errors import UserError

# The default budget: a MiniLM build (22M parameters, about 4-5 min of conversion, float models
# and per-layer parity here) with it finishes in a 10-minute CI job on this 2-core machine.
DEFAULT_BUDGET_S = places.DEFAULT_DEVICE_BUDGET_S
# The comparison never runs more inputs than this when the budget alone decides: x86_64 vs
# aarch64 differences on small models were never seen in the first ~1000 inputs, and 4096
# without a difference bound the rate of differing samples below 0.07 %.
MAX_COMPARE_SAMPLES = 4096
MAX_PROCESSES = 2  # runners side by side: this machine has 2 cores, a Pi 4 or 5 has 4
# Localising a difference traces one sample on each side with every tensor kept, on the
# optimized and then on the reference kernels. Keeping tensors costs a few percent per
# invoke; the reference kernels were 1.6x slower than the optimized ones here (MiniLM, x86_64)
# and 3x faster under QEMU (no NEON to emulate), but plain C++ convolutions can be 10x slower
# on a real device: the reserve assumes that.
REFERENCE_SLOWDOWN = 10.0
# Saving every tensor of a sample and copying it back costs about as much as invoking again.
TRACE_SLOWDOWN = 2.0

# Plan.limited_by, as the report says it.
LIMITED_BY = {"budget": "what the budget affords", "data": "every input the data holds",
              "cap": f"the comparison stops at {MAX_COMPARE_SAMPLES}",
              "given": "the counts given (--samples, --compare-samples)"}

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                       r"(?:(\d+(?:\.\d+)?)s?)?\s*$")


def parse_duration(value: str, flag: str = "--device-budget") -> float:
    """'300', '300s', '5m', '1m30s', '1h' -> seconds; anything else, or zero, is a UserError."""
    match = _DURATION.match(value.lower()) if value.strip() else None
    if match is None or not any(match.groups()):
        raise UserError(f"{flag} takes a duration such as 300, 300s, 5m, 1m30s or 1h, "
                        f"got {value!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise UserError(f"{flag} must be more than zero, got {value!r}")
    return total


@dataclass(frozen=True)
class Costs:
    """What the probes measured, in seconds, and how many runners each side runs at once."""

    device_invoke_s: float
    device_start_s: float  # one runner: process start, imports, model load (and copies)
    host_invoke_s: float
    host_start_s: float
    processes: int = 1  # device runners side by side
    host_processes: int = 1

    def per_sample_s(self) -> float:
        """One more compared input: its share of the device runners and of the host ones."""
        return (self.device_invoke_s / self.processes
                + self.host_invoke_s / self.host_processes)

    def localise_s(self) -> float:
        """Kept for localising a difference: one sample traced on each side with every tensor
        kept, on the optimized kernels, then on the reference kernels."""
        def side(invoke: float, start: float) -> float:
            return 2 * start + invoke * TRACE_SLOWDOWN * (1 + REFERENCE_SLOWDOWN)
        return (side(self.device_invoke_s, self.device_start_s)
                + side(self.host_invoke_s, self.host_start_s))

    def reference_trace_s(self) -> float:
        """The reserve's part for one reference-kernel trace on the device."""
        return self.device_start_s + self.device_invoke_s * TRACE_SLOWDOWN * REFERENCE_SLOWDOWN


@dataclass(frozen=True)
class Plan:
    """How many inputs run where, and why that many."""

    parity_samples: int  # eval samples parity reports on
    compare_samples: int  # inputs run on both sides (the first of them are the parity ones)
    limited_by: str  # "budget", "data" (every input there is), "cap", "given" (the counts)
    estimated_s: float  # the whole device part, a localisation included
    # Seconds after its start at which each device runner stops starting samples (each runs one
    # at least); None: run them all.
    device_deadline_s: float | None


def affordable(costs: Costs, budget_s: float, spent_s: float) -> int:
    """Inputs the rest of the budget pays for, after the runners' starts and the localisation
    reserve (at least one: a budget too small for even that still runs one input)."""
    left = budget_s - spent_s - costs.device_start_s - costs.host_start_s - costs.localise_s()
    return max(1, math.floor(left / costs.per_sample_s())) if costs.per_sample_s() > 0 else 1


def plan(costs: Costs, budget_s: float, spent_s: float, eval_available: int,
         compare_available: int, samples: int | None = None,
         compare_samples: int | None = None) -> Plan:
    """The sample counts: those given (--samples, --compare-samples) as given, the others as
    many as the budget affords; parity never runs more eval samples than the comparison."""
    fits = affordable(costs, budget_s, spent_s)
    parity = min(samples, eval_available) if samples is not None else None
    if compare_samples is not None:
        compare = min(max(compare_samples, parity or 0), compare_available)
    else:
        compare = min(max(fits, parity or 0), compare_available, MAX_COMPARE_SAMPLES)
    if parity is None:
        parity = min(eval_available, compare)
    compare = max(compare, parity)
    if samples is not None or compare_samples is not None:
        limited_by = "given"
    elif fits >= min(compare_available, MAX_COMPARE_SAMPLES):
        limited_by = "data" if compare_available <= MAX_COMPARE_SAMPLES else "cap"
    else:
        limited_by = "budget"
    fixed = spent_s + costs.device_start_s + costs.host_start_s
    estimated = fixed + compare * costs.per_sample_s() + costs.localise_s()
    # The device runners stop starting samples where their share of the budget ends (less one
    # start and one invoke); counts the user gave run in full (only --run-timeout stops them).
    host_share = costs.host_start_s + compare * costs.host_invoke_s / costs.host_processes
    deadline = None if limited_by == "given" else (
        budget_s - spent_s - host_share - costs.localise_s() - costs.device_start_s
        - costs.device_invoke_s)
    return Plan(parity_samples=parity, compare_samples=compare, limited_by=limited_by,
                estimated_s=estimated, device_deadline_s=deadline)
