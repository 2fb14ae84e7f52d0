"""manifest.json: sha256 of every artifact and of the data, tool versions, options, seed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pipeline import artifacts
from pipeline.records import ApproximateRecord, ConvertRecord, ParityRecord, TrainRecord
from pipeline.stages.report import versions


def recorded_options(out: Path, parity: ParityRecord) -> dict[str, Any]:
    """The options every stage recorded in its own record, so `report` alone can rebuild them."""
    trained = TrainRecord.load(out)
    approximated = ApproximateRecord.load(out)
    converted = ConvertRecord.load(out)
    return {"model": trained.source, "epochs": trained.epochs, "seed": trained.seed,
            "approx": approximated.approx, "quantize": converted.quantize,
            "batch": converted.batch, "calibration_samples": converted.calibration_samples,
            "target": parity.target, "runtime": parity.runtime.name, "samples": parity.samples,
            "thresholds": [{"output": t.output, "threshold": t.threshold, "op": t.op,
                            "limit": t.limit} for t in parity.thresholds],
            "data": parity.data.path}


def _sha256_path(path: Path) -> str | None:
    """sha256 of a file; of a folder, over its files' relative paths and hashes."""
    if path.is_file():
        return artifacts.sha256_file(path)
    if path.is_dir():
        lines = [f"{p.relative_to(path)} {artifacts.sha256_file(p)}"
                 for p in sorted(path.rglob("*")) if p.is_file()]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return None


def write_manifest(out: Path, parity: ParityRecord) -> dict[str, Any]:
    """manifest.json: sha256 of every artifact and of the data, tool versions, options, seed."""
    options = recorded_options(out, parity)
    data_path = Path(options["data"])
    names = [name for stage in artifacts.STAGE_OUTPUTS.values() for name in stage
             if name not in (artifacts.MANIFEST, artifacts.PLOTS_DIR)]
    plots = out / artifacts.PLOTS_DIR
    names += [f"{artifacts.PLOTS_DIR}/{p.name}" for p in sorted(plots.glob("*.png"))]
    manifest = {
        "artifacts": {n: artifacts.sha256_file(out / n) for n in names if (out / n).is_file()},
        "data": {"path": str(data_path), "sha256": _sha256_path(data_path)},
        "versions": {
            **versions.describe(),
            "runtime": {"name": parity.runtime.name, "version": parity.runtime.version},
        },
        "lock": versions.lock_status(),
        "options": options,
        "seed": options.get("seed"),
    }
    artifacts.write_json(out / artifacts.MANIFEST, manifest)
    return manifest
