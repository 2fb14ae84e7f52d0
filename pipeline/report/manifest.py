"""manifest.json: sha256 of every artifact and of the data, tool versions, options, seed."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline import artifacts


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
                   thresholds=[{k: t[k] for k in ("output", "threshold", "op", "limit")}
                               for t in parity["thresholds"]],
                   data=parity["data"]["path"])
    return options


def _sha256_path(path: Path) -> str | None:
    """sha256 of a file; of a folder, over its files' relative paths and hashes."""
    import hashlib

    if path.is_file():
        return artifacts.sha256_file(path)
    if path.is_dir():
        lines = [f"{p.relative_to(path)} {artifacts.sha256_file(p)}"
                 for p in sorted(path.rglob("*")) if p.is_file()]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return None


def write_manifest(out: Path) -> dict[str, Any]:
    """manifest.json: sha256 of every artifact and of the data, tool versions, options, seed."""
    options = recorded_options(out)
    data_path = Path(options["data"])
    names = [artifacts.MODEL_FLOAT, artifacts.MODEL_APPROX, artifacts.MODEL_TFLITE,
             artifacts.PARITY_JSON, artifacts.PARITY_MD, artifacts.PARITY_HTML,
             artifacts.PARITY_SAMPLES, artifacts.GELU_CURVES, artifacts.APPROX_CHOICE,
             artifacts.TRAIN_RECORD, artifacts.APPROX_RECORD, artifacts.CONVERT_RECORD]
    plots = out / artifacts.PLOTS_DIR
    names += [f"{artifacts.PLOTS_DIR}/{p.name}" for p in sorted(plots.glob("*.png"))]
    parity = artifacts.read_json(out / artifacts.PARITY_JSON)
    manifest = {
        "artifacts": {n: artifacts.sha256_file(out / n) for n in names if (out / n).is_file()},
        "data": {"path": str(data_path), "sha256": _sha256_path(data_path)},
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
