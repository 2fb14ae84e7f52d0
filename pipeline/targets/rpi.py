"""`rpi` and `rpi-litert`: Raspberry Pi 4/5 (aarch64, Raspberry Pi OS Bookworm) with
tflite-runtime 2.14 (what Pi users install) or ai-edge-litert (its successor)."""

from pipeline.targets.cpu import cpu_target

TFLITE_RUNTIME_VERSION = "2.14.0"  # the last tflite-runtime release

TARGET = cpu_target("rpi", "Raspberry Pi 4/5, aarch64, tflite-runtime 2.14", "tflite-runtime",
                    "aarch64", TFLITE_RUNTIME_VERSION)
# ai-edge-litert is not numbered like TensorFlow: the real load decides.
LITERT = cpu_target("rpi-litert", "Raspberry Pi 4/5, aarch64, ai-edge-litert", "litert",
                    "aarch64", tf_versioned=False)

TARGETS = (TARGET, LITERT)
