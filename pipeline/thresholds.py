"""The parity gate: thresholds on the quantized model's metrics, with defaults and their reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# An int8 output has 256 levels; well-quantized small models measure 30-40 dB against float
# (the demo: about 35 dB). 20 dB (error RMS 10 % of the signal RMS) flags a broken conversion,
# such as the stock int8 transformer in shared/anchors.md (3-13 dB), without flaking on noise.
DEFAULT_MIN_SNR_DB = 20.0
# Errors of a few output LSBs are normal after several quantized layers, and a rare sample whose
# hidden activation lies past the calibrated range reaches 14-18 LSB in the demo. 32 LSB (1/8 of
# the int8 output range) means a systematic error: saturation, a narrowed input range, a bad op.
DEFAULT_MAX_ERROR_LSB = 32.0
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

    def as_dict(self) -> dict[str, float]:
        """The thresholds as plain data."""
        return asdict(self)


def evaluate(th: Thresholds, metrics: dict[str, Any], task: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per enforced threshold: metric, comparison, limit, value, passed.

    A metric that does not apply (max_error_lsb of a float-output model, top-1 agreement of a
    regression) is not enforced and not listed. An SNR of None means identical outputs.
    """
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, op: str, limit: float) -> None:
        if op == ">=":
            passed = value is None or value >= limit  # None: infinite SNR
        else:
            passed = value is not None and value <= limit
        rows.append({"threshold": name, "value": value, "op": op, "limit": limit,
                     "passed": bool(passed)})

    add("min_snr_db", metrics["snr_db"], ">=", th.min_snr_db)
    if metrics.get("max_error_lsb") is not None:
        add("max_error_lsb", metrics["max_error_lsb"], "<=", th.max_error_lsb)
    add("min_cosine", metrics["cosine"], ">=", th.min_cosine)
    if task.get("top1_agreement") is not None:
        add("min_top1_agreement", task["top1_agreement"], ">=", th.min_top1_agreement)
    return rows
