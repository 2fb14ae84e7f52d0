"""`coral`: Coral Edge TPU. Static op-set check only (the Edge TPU compiler is not installable
from the registries this project uses); parity runs on the board's CPU runtime."""

from pipeline.targets.base import Target

# The Edge TPU's supported-op table (coral.ai/docs/edgetpu/models-intro), TFLite builtin names.
# Not supported, and so rejected here: GELU, ABS, NEG, POW, DEQUANTIZE, GATHER, CAST, HARD_SWISH.
EDGETPU_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
    "L2_NORMALIZATION", "LOGISTIC", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PAD",
    "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
    "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE", "STRIDED_SLICE", "SUB", "TANH",
    "QUANTIZE",
})

TARGET = Target(
    name="coral",
    summary="Coral Edge TPU (static op check), int8/uint8 full integer",
    runtime="tflite-runtime",
    machine="aarch64",
    default_quantize="int8",
    allowed_ops=EDGETPU_OPS,
)
