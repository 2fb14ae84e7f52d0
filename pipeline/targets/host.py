"""`litert` (any device with ai-edge-litert) and `host` (this machine with ai-edge-litert)."""

import platform

from pipeline import quantize_modes
from pipeline.targets.base import Target
from pipeline.targets.cpu import cpu_checker
from pipeline.targets.rpi import RULES

LITERT = Target(
    name="litert",
    summary="a device running ai-edge-litert (LiteRT), the maintained TFLite runtime",
    runtime="litert",
    machine="aarch64",
    default_quantize="int8",
    quantize_modes=tuple(quantize_modes.MODES),
    accelerator=False,
    rules=RULES,
    checker=cpu_checker("litert", "litert", None, tf_versioned=False),
)

HOST = Target(
    name="host",
    summary="this machine, ai-edge-litert",
    runtime="litert",
    machine=platform.machine(),
    default_quantize="int8",
    quantize_modes=tuple(quantize_modes.MODES),
    accelerator=False,
    rules=RULES,
    checker=cpu_checker("host", "litert", None, tf_versioned=False),
)

TARGETS = (LITERT, HOST)
