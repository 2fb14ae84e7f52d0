"""The parity gate: thresholds on the quantized model's metrics, with defaults and their reasons.

Where a threshold comes from, weakest first: the defaults below, `[tool.gelu-edge.thresholds]`
in ./pyproject.toml, the same table in `--config FILE`, then the command-line flags. Per-output
limits live in `[tool.gelu-edge.thresholds.outputs.<output name>]`; a flag overrides them too.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.records.parity import Metrics, TaskResult, ThresholdRow

# An int8 output has 256 levels; well-quantized small models measure 30-40 dB against float
# (the demo: about 35 dB). 20 dB (error RMS 10 % of the signal RMS) flags a broken conversion,
# such as a stock int8 conversion of a small transformer (3-13 dB measured), without flaking
# on noise.
DEFAULT_MIN_SNR_DB = 20.0
# Errors of a few output LSBs are normal after several quantized layers, and a rare sample whose
# hidden activation lies past the calibrated range reaches 14-18 LSB in the demo. 32 LSB (1/8 of
# the int8 output range) means a systematic error: saturation, a narrowed input range, a bad op.
DEFAULT_MAX_ERROR_LSB = 32.0
# max_error_lsb limits are int8 output steps: an output of more bits has 2**(bits - 8) of its own
# steps to one int8 step, and its limit is scaled by that (the same share of its range).
LSB_LIMIT_BITS = 8
DEFAULT_MIN_COSINE = 0.99
# Classification: the int8 model must pick the float model's class on 99 % of samples.
DEFAULT_MIN_TOP1_AGREEMENT = 0.99


@dataclass(frozen=True)
class Thresholds:
    """Limits the quantized model's parity with the float reference must meet."""

    min_snr_db: float = DEFAULT_MIN_SNR_DB
    max_error_lsb: float = DEFAULT_MAX_ERROR_LSB
    min_cosine: float = DEFAULT_MIN_COSINE
    min_top1_agreement: float = DEFAULT_MIN_TOP1_AGREEMENT
    # Embeddings: not enforced unless set (None).
    min_sample_cosine: float | None = None
    min_neighbour_agreement: float | None = None
    # Output name -> {threshold: limit} overriding the ones above for that output.
    outputs: dict[str, dict[str, float]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # where the non-default values came from

    def as_dict(self) -> dict[str, Any]:
        """The thresholds as plain data."""
        return asdict(self)

    def for_output(self, name: str) -> Thresholds:
        """The limits that apply to one output."""
        return replace(self, **self.outputs.get(name, {}), outputs={})


NAMES = tuple(f.name for f in fields(Thresholds) if f.name not in ("outputs", "sources"))


def _table(data: dict[str, Any], where: str
           ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    section = data.get("tool", {}).get("gelu-edge", {}) if "tool" in data else data
    table = section.get("thresholds", {})
    if not isinstance(table, dict):
        raise UserError(f"{where}: [tool.gelu-edge.thresholds] must be a table")
    outputs = table.get("outputs", {})
    base = {k: v for k, v in table.items() if k != "outputs"}
    for name, limits in [("", base), *outputs.items()]:
        if not isinstance(limits, dict):
            raise UserError(f"{where}: thresholds for output {name!r} must be a table")
        unknown = sorted(set(limits) - set(NAMES))
        if unknown:
            raise UserError(f"{where}: unknown threshold(s) {', '.join(unknown)}; known: "
                            f"{', '.join(NAMES)}")
        bad = [k for k, v in limits.items() if not isinstance(v, (int, float))
               or isinstance(v, bool)]
        if bad:
            raise UserError(f"{where}: threshold(s) {', '.join(bad)} must be numbers")
    return ({k: float(v) for k, v in base.items()},
            {n: {k: float(v) for k, v in limits.items()} for n, limits in outputs.items()})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from None


# Where each threshold makes sense: (lowest, highest). An SNR gate under 0 dB (error larger than
# the signal) or an error limit under 0 cannot mean what the user wants.
RANGES = {
    "min_snr_db": (0.0, 200.0),
    "max_error_lsb": (0.0, 65536.0),
    "min_cosine": (-1.0, 1.0),
    "min_top1_agreement": (0.0, 1.0),
    "min_sample_cosine": (-1.0, 1.0),
    "min_neighbour_agreement": (0.0, 1.0),
}


def _check(name: str, value: float, where: str) -> float:
    lo, hi = RANGES[name]
    if not math.isfinite(value) or not lo <= value <= hi:
        raise UserError(f"{where}: threshold {name} = {value} is outside [{lo:g}, {hi:g}]")
    return value


def resolve(flags: dict[str, float | None], config: Path | None = None,
            project: Path | None = None) -> Thresholds:
    """Defaults < ./pyproject.toml [tool.gelu-edge] < --config FILE < flags (not None)."""
    base: dict[str, float] = {}
    outputs: dict[str, dict[str, float]] = {}
    sources = []
    pyproject = (project or Path.cwd()) / "pyproject.toml"
    files = [pyproject] if pyproject.is_file() else []
    if config is not None:
        files.append(config)
    for path in files:
        data = _read_toml(path)
        if path == config or data.get("tool", {}).get("gelu-edge"):
            b, o = _table(data, str(path))
            if b or o:
                sources.append(str(path))
            base.update(b)
            for name, limits in o.items():
                outputs.setdefault(name, {}).update(limits)
    given = {k: _check(k, float(v), "command line") for k, v in flags.items() if v is not None}
    for name, value in base.items():
        _check(name, value, ", ".join(sources) or "configuration")
    for output, limits in outputs.items():
        for name, value in limits.items():
            _check(name, value, f"output {output!r}")
    if given:
        sources.append("command line")
        base.update(given)
        for limits in outputs.values():
            for k in given:
                limits.pop(k, None)
    return Thresholds(**base, outputs=outputs, sources=tuple(sources))


def lsb_limit(limit: float, bits: int) -> float:
    """A max_error_lsb limit (in int8 steps) in the steps of an output of `bits` bits."""
    return limit * 2.0 ** max(bits - LSB_LIMIT_BITS, 0)


def evaluate(th: Thresholds, metrics: Metrics, task: TaskResult,
             output: str = "output", bits: int = LSB_LIMIT_BITS) -> list[ThresholdRow]:
    """One row per enforced threshold: output, metric, comparison, limit, value, passed.

    A metric that does not apply (max_error_lsb of a float-output model, top-1 agreement of a
    regression) is not enforced and not listed. An SNR of None means identical outputs.
    `bits`: the quantized output's integer width; max_error_lsb counts its steps, so its
    limit is scaled from int8 steps (lsb_limit).
    """
    rows: list[ThresholdRow] = []
    th = th.for_output(output)

    def add(name: str, value: float | None, op: str, limit: float) -> None:
        if op == ">=":
            passed = value is None or value >= limit  # None: infinite SNR
        else:
            passed = value is not None and value <= limit
        rows.append(ThresholdRow(output=output, threshold=name, value=value, op=op, limit=limit,
                                 passed=bool(passed)))

    add("min_snr_db", metrics.snr_db, ">=", th.min_snr_db)
    if metrics.max_error_lsb is not None:
        add("max_error_lsb", metrics.max_error_lsb, "<=", lsb_limit(th.max_error_lsb, bits))
    add("min_cosine", metrics.cosine, ">=", th.min_cosine)
    if th.min_sample_cosine is not None and metrics.sample_cosine is not None:
        add("min_sample_cosine", metrics.sample_cosine, ">=", th.min_sample_cosine)
    if th.min_neighbour_agreement is not None and metrics.neighbour_agreement is not None:
        add("min_neighbour_agreement", metrics.neighbour_agreement, ">=",
            th.min_neighbour_agreement)
    if task.top1_agreement is not None:
        add("min_top1_agreement", task.top1_agreement, ">=", th.min_top1_agreement)
    return rows
