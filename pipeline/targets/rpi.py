"""`rpi`: Raspberry Pi 4/5 (aarch64) with tflite-runtime 2.14, what Raspberry Pi OS users install."""

from pipeline.targets.base import Target

TARGET = Target(
    name="rpi",
    summary="Raspberry Pi 4/5, aarch64, tflite-runtime 2.14",
    runtime="tflite-runtime",
    machine="aarch64",
    default_quantize="int8",
)
