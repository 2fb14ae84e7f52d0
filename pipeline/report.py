"""Stage 5, report: render parity.json as parity.md and a terminal summary; write manifest.json."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline import artifacts
from pipeline.errors import UserError

METRIC_COLUMNS = ("max_abs_error", "mean_abs_error", "rmse", "snr_db", "cosine", "max_error_lsb")
COMPARISONS = (
    ("metrics", "quantized vs float reference"),
    ("approx_metrics", "approximation (float) vs float reference"),
    ("quantization_metrics", "quantized vs approximation (float)"),
)


def fmt(value: Any) -> str:
    """A number as the report shows it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return lines


def _device_section(cmp: dict[str, Any] | None, rt: dict[str, Any]) -> list[str]:
    if not cmp:
        return []
    host = cmp["host"]
    lines = ["", "## Device vs this machine", "",
             f"The same model and inputs on {rt['name']} {rt['version']} {rt['machine']} "
             f"({rt['where']}) and on {host['name']} {host['version']} {host['machine']} here:", "",
             *_table(["samples", "outputs", "differing outputs", "differing samples",
                      "max difference (LSB)"],
                     [[cmp["samples"], cmp["outputs"], cmp["differing_outputs"],
                       cmp["differing_samples"], cmp["max_diff_lsb"]]])]
    first = cmp.get("first_difference")
    if first:
        lines += ["", f"First difference: sample {first['sample']}, device {first['device']}, "
                  f"this machine {first['host']}."]
    return lines


def _compat_section(compat: dict[str, Any] | None) -> list[str]:
    if not compat:
        return []
    lines = ["", f"## Target compatibility: {compat['target']}", "", compat["summary"], ""]
    lines += _table(["op", "version", "count", "verdict", "reason"],
                    [[v["op"], v["version"], v["count"], v["verdict"], v["reason"]]
                     for v in compat["ops"]])
    lines += ["", *_table(["rule", "result", "message"],
                          [[r["name"], "pass" if r["passed"] else "**FAIL**", r["message"]]
                           for r in compat["rules"]])]
    lines += [f"\n- note: {n}" for n in compat["notes"]]
    return lines


def _auto_section(auto: dict[str, Any] | None) -> list[str]:
    if not auto:
        return []
    lines = ["", "## Why this approximation (--approx auto)", "", auto["reason"], ""]
    lines += _table(["variant", "accepted", "int8 max LSB", "int8 mean LSB", "ops",
                     f"latency ms ({auto['runtime']})", "latency vs lut",
                     f"{auto['cost']} vs cheapest accepted", "cost ok"],
                    [[c["name"], c["accepted"], c["int8_max_lsb"], c["int8_mean_lsb"], c["ops"],
                      c["latency_ms"], c["vs_lut"], c["vs_cheapest"], c["cost_ok"]]
                     for c in auto["candidates"]])
    return lines


def render_markdown(p: dict[str, Any]) -> str:
    """parity.md: verdict, setup, thresholds, error split, task metric, graph checks, ops."""
    verdict = "PASSED" if p["passed"] else "FAILED"
    rt = p["runtime"]
    lines = [
        f"# gelu-edge parity: {verdict}", "",
        f"- target: `{p['target']}`, quantize: `{p['quantize']}`",
        f"- runtime: {rt['name']} {rt['version']} on {rt['machine']} ({rt['where']}"
        + (f", {rt['cpu']}" if rt.get("cpu") else "") + (f", --on {rt['on']}" if rt.get("on") and
                                                          rt["on"] != "local" else "") + ")",
        f"- GELU approximation: `{p['approx']['name']}`, {p['approx']['replaced']} site(s) replaced",
        f"- samples: {p['samples']}", "",
        "## Thresholds", "",
        *_table(["threshold", "value", "limit", "result"],
                [[t["threshold"], t["value"], f"{t['op']} {t['limit']}",
                  "pass" if t["passed"] else "**FAIL**"] for t in p["thresholds"]]),
        "", "## Where the error comes from", "",
        *_table(["comparison", *METRIC_COLUMNS],
                [[label, *(p[key].get(c) for c in METRIC_COLUMNS)] for key, label in COMPARISONS]),
        "", "## Task metric", "",
    ]
    task = p["task"]
    rows = [[task["metric"], task["float"], task["approx"], task["quantized"]]]
    lines += _table(["metric", "float", "approximation", "quantized"], rows)
    if task.get("top1_agreement") is not None:
        lines += ["", f"Top-1 agreement, quantized vs float: {task['top1_agreement']:.4f}"]
    lines += ["", "## Graph checks", ""]
    lines += _table(["check", "result", "message"],
                    [[c["name"], "pass" if c["passed"] else "**FAIL**", c["message"]]
                     for c in p["checks"]])
    lines += _device_section(p.get("device_vs_host"), rt)
    lines += _compat_section(p.get("compat"))
    lines += _auto_section(p["approx"].get("auto"))
    lines += ["", "## Ops in model.tflite", ""]
    lines += _table(["op", "count"], [[k, v] for k, v in p["ops"].items()])
    if p["approx"]["sites"]:
        lines += ["", "## GELU sites replaced", ""]
        lines += _table(["site", "layer", "form"],
                        [[s["path"], s["layer_class"], s["form"]] for s in p["approx"]["sites"]])
    return "\n".join(lines) + "\n"


def summary(p: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    m, am, task = p["metrics"], p["approx_metrics"], p["task"]
    rows = [
        ("verdict", "PASSED" if p["passed"] else "FAILED"),
        ("runtime", f"{p['runtime']['name']} {p['runtime']['version']} ({p['runtime']['machine']}, "
                    f"{p['runtime']['where']})"),
        ("approx", f"{p['approx']['name']} ({p['approx']['replaced']} replaced)"),
        ("samples", p["samples"]),
        ("SNR quantized / approx", f"{fmt(m['snr_db'])} dB / {fmt(am['snr_db'])} dB"),
        ("max error", f"{fmt(m['max_error_lsb'])} LSB ({fmt(m['max_abs_error'])})"),
        (f"{task['metric']} float / quantized", f"{fmt(task['float'])} / {fmt(task['quantized'])}"),
    ]
    cmp = p.get("device_vs_host")
    if cmp:
        rows.append(("device vs this machine", f"{cmp['differing_outputs']} of {cmp['outputs']} "
                     f"int8 outputs differ (max {fmt(cmp['max_diff_lsb'])} LSB)"))
    failed = [t["threshold"] for t in p["thresholds"] if not t["passed"]]
    failed += [c["name"] for c in p["checks"] if not c["passed"]]
    if failed:
        rows.append(("failed", ", ".join(failed)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def recorded_options(out: Path) -> dict[str, Any]:
    """The options every stage recorded in its own record, so `report` alone can rebuild them."""
    options: dict[str, Any] = {}
    train = out / artifacts.TRAIN_RECORD
    if train.is_file():
        rec = artifacts.read_json(train)
        options.update(model=rec["source"], epochs=rec["epochs"], seed=rec["seed"])
    approx = artifacts.read_json(out / artifacts.APPROX_RECORD)
    convert = artifacts.read_json(out / artifacts.CONVERT_RECORD)
    parity = artifacts.read_json(out / artifacts.PARITY_JSON)
    options.update(approx=approx["approx"], quantize=convert["quantize"], batch=convert["batch"],
                   calibration_samples=convert["calibration_samples"], target=parity["target"],
                   runtime=parity["runtime"]["name"], samples=parity["samples"],
                   thresholds={t["threshold"]: t["limit"] for t in parity["thresholds"]},
                   data=parity["data"]["path"])
    return options


def write_manifest(out: Path) -> dict[str, Any]:
    """manifest.json: sha256 of every artifact and of the data, tool versions, options, seed."""
    options = recorded_options(out)
    data_path = Path(options["data"])
    names = [artifacts.MODEL_FLOAT, artifacts.MODEL_APPROX, artifacts.MODEL_TFLITE,
             artifacts.PARITY_JSON, artifacts.PARITY_MD, artifacts.PARITY_SAMPLES,
             artifacts.TRAIN_RECORD, artifacts.APPROX_RECORD, artifacts.CONVERT_RECORD]
    parity = artifacts.read_json(out / artifacts.PARITY_JSON)
    manifest = {
        "artifacts": {n: artifacts.sha256_file(out / n) for n in names if (out / n).is_file()},
        "data": {"path": str(data_path), "sha256": artifacts.sha256_file(data_path)},
        "versions": {
            "python": platform.python_version(),
            "gelu-edge": _version("gelu-edge"),
            "tensorflow": _version("tensorflow"),
            "keras": _version("keras"),
            "numpy": _version("numpy"),
            "runtime": {"name": parity["runtime"]["name"], "version": parity["runtime"]["version"]},
        },
        "options": options,
        "seed": options.get("seed"),
    }
    artifacts.write_json(out / artifacts.MANIFEST, manifest)
    return manifest


def run(out: Path) -> dict[str, Any]:
    """Write parity.md and manifest.json from parity.json; return the parity data."""
    parity = artifacts.read_json(artifacts.require(out, artifacts.PARITY_JSON, "parity"))
    try:
        text = render_markdown(parity)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{out / artifacts.PARITY_JSON} lacks {exc} (written by another version "
                        "of gelu-edge?); rerun `gelu-edge parity` to rewrite it") from None
    artifacts.write_text(out / artifacts.PARITY_MD, text)
    write_manifest(out)
    return parity
