"""Registry of calibration methods (`--calibration-method`): minmax (TFLite's own),
percentile[:P], mse; `auto` tries each and keeps the best on a held-back part of the
calibration samples (pipeline.tflite.calibrate)."""

from __future__ import annotations

from pipeline.errors import UserError
from pipeline.registry import Registry
from pipeline.tflite.ranges import minmax, mse, percentile
from pipeline.tflite.ranges.base import Method

METHODS: Registry[Method] = Registry.of(
    "calibration method", (m.METHOD for m in (minmax, percentile, mse)),
    message=Registry.MESSAGE + " (percentile:P for another percentile)")
AUTO = "auto"
DEFAULT = minmax.METHOD.name


def parse(spec: str) -> tuple[Method | None, float | None]:
    """`name[:parameter]` -> (method, parameter); (None, None) for auto."""
    if spec == AUTO:
        return None, None
    name, _, value = spec.partition(":")
    if name not in METHODS:
        raise METHODS.unknown(spec, names())
    method = METHODS.get(name)
    if not value:
        return method, method.default_parameter
    if method.default_parameter is None:
        raise UserError(f"calibration method {name!r} takes no parameter (got {spec!r})")
    try:
        parameter = float(value)
    except ValueError:
        raise UserError(f"--calibration-method {spec}: {value!r} is not a number") from None
    if not 50.0 < parameter <= 100.0:
        raise UserError(f"--calibration-method {spec}: the percentile must be in (50, 100]")
    return method, parameter


def names() -> list[str]:
    """The choices --calibration-method lists."""
    return [*METHODS.names(), AUTO]


__all__ = ["Method", "METHODS", "AUTO", "DEFAULT", "parse", "names"]
