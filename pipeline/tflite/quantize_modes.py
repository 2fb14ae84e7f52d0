"""Registry of TFLite quantization modes for `--quantize`: how each configures the converter."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.registry import Registry

Calibration = Callable[[], Iterable[list[Any]]]


@dataclass(frozen=True)
class QuantizeMode:
    """One `--quantize` choice."""

    name: str
    summary: str
    full_integer: bool  # no float tensor may remain between input and output
    needs_calibration: bool
    configure: Callable[[Any, Any, Calibration], None]  # (converter, tf, representative data)


def _int8(io: str) -> Callable[[Any, Any, Calibration], None]:
    def configure(conv: Any, tf: Any, calib: Calibration) -> None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = calib
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = getattr(tf, io)
        conv.inference_output_type = getattr(tf, io)
    return configure


def _int16x8(conv: Any, tf: Any, calib: Calibration) -> None:
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = calib
    conv.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    conv.inference_input_type = tf.int16
    conv.inference_output_type = tf.int16


def _float16(conv: Any, tf: Any, calib: Calibration) -> None:
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]


def _dynamic(conv: Any, tf: Any, calib: Calibration) -> None:
    conv.optimizations = [tf.lite.Optimize.DEFAULT]


def _none(conv: Any, tf: Any, calib: Calibration) -> None:
    """Plain float32 conversion: the converter's defaults."""


MODES: Registry[QuantizeMode] = Registry.of("quantization", (
    QuantizeMode("int8", "full integer, int8 weights and activations, int8 input and output",
                 True, True, _int8("int8")),
    QuantizeMode("uint8", "full integer with uint8 input and output (Coral Edge TPU)",
                 True, True, _int8("uint8")),
    QuantizeMode("int16x8", "int16 activations, int8 weights, int16 input and output (integer "
                 "inputs stay integer: then through ai-edge-quantizer)",
                 True, True, _int16x8),
    QuantizeMode("float16", "float16 weights, float compute", False, False, _float16),
    QuantizeMode("dynamic", "int8 weights, float activations (dynamic range)", False, False,
                 _dynamic),
    QuantizeMode("none", "float32, no quantization (a reference; no accelerator runs it)",
                 False, False, _none),
))
get = MODES.get  # unknown names are a UserError listing the choices
names = MODES.names
