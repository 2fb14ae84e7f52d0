"""`host`: this machine, with ai-edge-litert (LiteRT), the maintained TFLite runtime."""

import platform

from pipeline.targets.base import Target

TARGET = Target(
    name="host",
    summary="this machine, ai-edge-litert",
    runtime="litert",
    machine=platform.machine(),
    default_quantize="int8",
)
