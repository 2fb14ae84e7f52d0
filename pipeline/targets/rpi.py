"""`rpi`: Raspberry Pi 4/5 (aarch64, Raspberry Pi OS Bookworm or Trixie). Its runtime is
ai-edge-litert (LiteRT), the maintained successor of tflite-runtime, with aarch64 wheels for
Python 3.11-3.13; `--runtime tflite-runtime` is the target for Pis that stay on tflite-runtime
2.14 (its last release, Python <= 3.11), checked against that version's op table.
`rpi-litert` is the old name of `rpi` and stays for existing scripts."""

from pipeline.targets.cpu import cpu_target

TFLITE_RUNTIME_VERSION = "2.14.0"  # the last tflite-runtime release

# ai-edge-litert is not numbered like TensorFlow: the real load decides.
TARGET = cpu_target("rpi", "Raspberry Pi 4/5, aarch64, ai-edge-litert (LiteRT); "
                    "--runtime tflite-runtime for tflite-runtime 2.14", "litert", "aarch64",
                    tf_versioned=False)
TFLITE_RUNTIME = cpu_target("rpi", "Raspberry Pi 4/5, aarch64, tflite-runtime 2.14",
                            "tflite-runtime", "aarch64", TFLITE_RUNTIME_VERSION)
LITERT = cpu_target("rpi-litert", "the same as rpi (its former name)", "litert", "aarch64",
                    tf_versioned=False)
# --runtime -> the target as that runtime's users have it
VARIANTS = {"rpi": {"tflite-runtime": TFLITE_RUNTIME},
            "rpi-litert": {"tflite-runtime": TFLITE_RUNTIME}}

TARGETS = (TARGET, LITERT)
