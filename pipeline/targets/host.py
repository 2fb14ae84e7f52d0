"""`litert` (any device with ai-edge-litert) and `host` (this machine with ai-edge-litert)."""

import platform

from pipeline.targets.cpu import cpu_target

LITERT = cpu_target("litert", "a device running ai-edge-litert (LiteRT), the maintained TFLite "
                    "runtime", "litert", "aarch64", tf_versioned=False)
HOST = cpu_target("host", "this machine, ai-edge-litert", "litert", platform.machine(),
                  tf_versioned=False)

TARGETS = (LITERT, HOST)
