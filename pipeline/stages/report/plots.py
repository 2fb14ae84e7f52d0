"""Plots (PNG, matplotlib), each readable without the text: titles, labelled axes, legends.

Drawn from the build folder's saved arrays (parity_samples.npz, gelu_sites.npz) and parity.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline import artifacts, tasks
from pipeline.records import ParityRecord
from pipeline.records.parity import Divergence, GeluSiteRow, LayerRow

DPI = 110
SIZE = (7.0, 4.2)
GELU_COLOR, OTHER_COLOR = "#d62728", "#1f77b4"
SCATTER_MAX_POINTS = 5000


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with artifacts.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight")
    _pyplot().close(fig)


def _gelu_site(plt: Any, curves: Any, i: int, site: GeluSiteRow, approx: str,
               path: Path) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(SIZE[0], SIZE[1] * 1.4), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    x, xi, yi = curves[f"s{i}_x"], curves[f"s{i}_int8_x"], curves[f"s{i}_int8_y"]
    top.plot(x, curves[f"s{i}_exact"], color="black", lw=2, label="exact GELU")
    top.plot(x, curves[f"s{i}_approx"], color=OTHER_COLOR, lw=1.5, ls="--",
             label=f"{approx} (float)")
    top.step(xi, yi, where="mid", color=GELU_COLOR, lw=1, label=f"{approx} int8 (runtime)")
    top.set_ylabel("output")
    top.set_title(f"GELU site {site.site}: calibrated input range "
                  f"[{site.input_range[0]:.2f}, {site.input_range[1]:.2f}]")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    exact_at_codes = np.interp(xi, x, curves[f"s{i}_exact"])
    bottom.plot(xi, (yi - exact_at_codes) / site.approx_output_scale, ".", color=GELU_COLOR,
                ms=3)
    bottom.axhline(0.5, color="gray", ls=":", lw=1)
    bottom.axhline(-0.5, color="gray", ls=":", lw=1)
    bottom.set_ylabel("int8 error (LSB)")
    bottom.set_xlabel("GELU input")
    bottom.grid(alpha=0.3)
    _save(fig, path)


def _error_histogram(plt: Any, samples: Any, scale: float | None, path: Path) -> None:
    err = (samples["y_quantized"].astype(np.float64) - samples["y_float"].astype(np.float64))
    err = err.ravel() / scale if scale else err.ravel()
    fig, ax = plt.subplots(figsize=SIZE)
    ax.hist(err, bins=61, color=OTHER_COLOR, edgecolor="white")
    ax.set_xlabel("quantized - float output (LSB)" if scale else "quantized - float output")
    ax.set_ylabel("outputs")
    ax.set_title(f"Error of the int8 model against float ({len(err)} outputs)")
    ax.grid(alpha=0.3)
    _save(fig, path)


def _layer_snr(plt: Any, rows: list[LayerRow], path: Path) -> None:
    names = [r.layer + (" (GELU)" if r.gelu_site else "") for r in rows]
    snr = [r.metrics.snr_db if r.metrics.snr_db is not None else 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(SIZE[0], max(2.0, 0.4 * len(rows) + 1.2)))
    ax.barh(names, snr, color=[GELU_COLOR if r.gelu_site else OTHER_COLOR for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("SNR of the quantized tensor against float (dB)")
    ax.set_title("Per-layer SNR, worst first (red: GELU sites)")
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def _scatter(plt: Any, samples: Any, path: Path) -> None:
    ref = samples["y_float"].ravel()[:SCATTER_MAX_POINTS]
    q = samples["y_quantized"].ravel()[:SCATTER_MAX_POINTS]
    fig, ax = plt.subplots(figsize=(SIZE[1] * 1.3, SIZE[1] * 1.3))
    ax.scatter(ref, q, s=6, alpha=0.5, color=OTHER_COLOR, label="eval samples")
    lo, hi = float(min(ref.min(), q.min())), float(max(ref.max(), q.max()))
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, label="quantized = float")
    ax.set_xlabel("float reference output")
    ax.set_ylabel("int8 model output")
    ax.set_title("Predicted (int8) vs reference (float)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    _save(fig, path)


def _divergence(plt: Any, d: Divergence, path: Path) -> None:
    rows = d.growth
    x = [r.op_index for r in rows]
    fig, ax = plt.subplots(figsize=SIZE)
    ax.plot(x, [max(r.max_diff, 0.5) for r in rows], ".-", color=GELU_COLOR, ms=4,
            label="largest difference (LSB; 0 drawn at 0.5)")
    ax.set_yscale("log")
    ax.set_xlabel("op (execution order)")
    ax.set_ylabel("device - this machine, max |difference|")
    share = ax.twinx()
    share.plot(x, [100 * r.differing / r.elements if r.elements else 0 for r in rows],
               color=OTHER_COLOR, lw=1, label="values that differ (%)")
    share.set_ylabel("values that differ (%)")
    share.set_ylim(0, 100)
    first = rows[0]
    ax.axvline(first.op_index, color="gray", ls=":", lw=1)
    ax.set_title(f"How the difference grows from op {first.op_index} {first.op} "
                 f"(input {d.sample})")
    lines = ax.get_legend_handles_labels()
    more = share.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
    ax.grid(alpha=0.3)
    _save(fig, path)


def make(out: Path, p: ParityRecord) -> dict[str, str]:
    """Draw every plot the build's data allows into OUT/plots; title -> path relative to OUT."""
    plt = _pyplot()
    folder = out / artifacts.PLOTS_DIR
    folder.mkdir(exist_ok=True)
    made: dict[str, str] = {}
    curves_path = out / artifacts.GELU_CURVES
    if p.gelu_sites and curves_path.is_file():
        with np.load(curves_path, allow_pickle=False) as curves:
            for i, site in enumerate(p.gelu_sites):
                name = f"gelu_site_{i}.png"
                _gelu_site(plt, curves, i, site, p.approx.name, folder / name)
                made[f"GELU site {site.site}: exact vs {p.approx.name} and its int8 "
                     "version"] = f"{artifacts.PLOTS_DIR}/{name}"
    samples_path = out / artifacts.PARITY_SAMPLES
    first = p.first
    if samples_path.is_file() and first.metrics is not None:
        with np.load(samples_path, allow_pickle=False) as samples:
            _error_histogram(plt, samples, first.quantization.scale,
                             folder / "error_histogram.png")
            made["Error histogram, quantized vs float"] = \
                f"{artifacts.PLOTS_DIR}/error_histogram.png"
            if first.task.kind is None or tasks.get(first.task.kind).scatter_plot:
                _scatter(plt, samples, folder / "predicted_vs_reference.png")
                made["Predicted vs reference"] = f"{artifacts.PLOTS_DIR}/predicted_vs_reference.png"
    rows = p.layers.layers if p.layers else []
    if rows:
        _layer_snr(plt, rows, folder / "layer_snr.png")
        made["Per-layer SNR"] = f"{artifacts.PLOTS_DIR}/layer_snr.png"
    divergence = p.device_vs_host.divergence if p.device_vs_host else None
    if divergence is not None and divergence.growth:
        _divergence(plt, divergence, folder / "device_divergence.png")
        made["Device vs this machine, op by op"] = (f"{artifacts.PLOTS_DIR}/"
                                                    "device_divergence.png")
    return made
