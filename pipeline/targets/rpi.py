"""`rpi` and `rpi-litert`: Raspberry Pi 4/5 (aarch64, Raspberry Pi OS Bookworm) with
tflite-runtime 2.14 (what Pi users install) or ai-edge-litert (its successor)."""

from pipeline import quantize_modes
from pipeline.targets.base import Target
from pipeline.targets.cpu import cpu_checker

TFLITE_RUNTIME_VERSION = "2.14.0"  # the last tflite-runtime release

RULES = (
    "the model loads on the runtime: op codes and op versions it registers "
    "(the converter's min_runtime_version metadata, a per-op table, and a real load and invoke "
    "in a separate process when the runtime is installed here)",
    "any quantization mode the runtime runs; int8 is the default",
)

TARGET = Target(
    name="rpi",
    summary="Raspberry Pi 4/5, aarch64, tflite-runtime 2.14",
    runtime="tflite-runtime",
    machine="aarch64",
    default_quantize="int8",
    quantize_modes=tuple(quantize_modes.MODES),
    accelerator=False,
    rules=RULES,
    checker=cpu_checker("rpi", "tflite-runtime", TFLITE_RUNTIME_VERSION),
)

LITERT = Target(
    name="rpi-litert",
    summary="Raspberry Pi 4/5, aarch64, ai-edge-litert",
    runtime="litert",
    machine="aarch64",
    default_quantize="int8",
    quantize_modes=tuple(quantize_modes.MODES),
    accelerator=False,
    rules=RULES,
    checker=cpu_checker("rpi-litert", "litert", None, tf_versioned=False),
)

TARGETS = (TARGET, LITERT)
