"""Render `gelu-edge approximations` measurements as a terminal table."""

from __future__ import annotations

from pipeline.approximations.measure import Measurement


def _f(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def render(results: list[Measurement], float_range: tuple[float, float],
           int8_range: tuple[float, float], runtime: str, shape: tuple[int, ...] | None) -> str:
    """One row per variant; a note under the table for any variant that narrows its input."""
    runtimes = sorted({rt for r in results for rt in r.latency_ms})
    header = ["variant", f"float rms/max [{float_range[0]:g},{float_range[1]:g}]",
              f"int8 max (top code aside) / mean LSB ({runtime})", "input covered", "ops",
              "targets"]
    header += [f"{rt} ms (x lut)" for rt in runtimes]
    rows = []
    for r in results:
        covered = ("—" if r.covered_range is None
                   else f"{r.covered_range[0]:.2f},{r.covered_range[1]:.2f}")
        if r.narrowed:
            covered += " NARROWED"
        row = [r.name, f"{_f(r.float_rms, 5)} / {_f(r.float_max, 4)}",
               f"{_f(r.int8_max_lsb, 2)} ({_f(r.int8_max_lsb_without_top_code, 2)}) / "
               f"{_f(r.int8_mean_lsb, 2)}", covered,
               " ".join(f"{k}x{v}" for k, v in r.ops.items()), ",".join(r.accepted_by)]
        for rt in runtimes:
            ms = r.latency_ms.get(rt)
            rel = r.latency_vs_lut.get(rt)
            row.append("—" if ms is None else f"{ms:.2f} ({rel:.1f}x)" if rel else f"{ms:.2f}")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"int8: single-op full-integer models calibrated on [{int8_range[0]:g}, "
                 f"{int8_range[1]:g}], all 256 input codes, error vs exact GELU of the input; "
                 "in brackets without the top input code, where every variant's output "
                 "saturates (it lies just above the calibrated maximum).")
    if shape:
        lines.append(f"latency: median of 20 invokes, one thread, shape {list(shape)}.")
    narrowed = [r.name for r in results if r.narrowed]
    if narrowed:
        lines.append(f"warning: {', '.join(narrowed)} narrow the model's input range: inputs "
                     "outside 'input covered' saturate.")
    return "\n".join(lines)
