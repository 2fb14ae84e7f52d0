"""Where int8 goes in a `--quantize int8` build: the placement, a registry of kinds.

- `integer`: every op int8 (full-integer post-training quantization). Accelerator targets always
  get it, `--integer-only` forces it, and it is the CPU default for models with none of the ops
  int8 breaks (MLPs, CNNs): their all-int8 model keeps float's answers.
- `matmuls`: the matrix ops (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and
  BATCH_MATMUL with a constant operand) with int8 weights and int8 multiply-accumulates through
  the runtime's dynamic-range kernels, which quantize their input on the fly and write float;
  everything else float. The CPU default for models with layer norm, softmax or attention: one
  int8 scale per tensor cannot hold a transformer's residual stream (a few outlier dimensions
  tens of times larger than the rest), and an int8 FULLY_CONNECTED must also write int8, while
  the matrix ops are where the work is (MiniLM: 97 % of the multiply-accumulates in
  FULLY_CONNECTED). Made with ai-edge-quantizer's dynamic-range recipe from the float model.

The rewrites that exist only so an op can run in int8 (layer norm without NEG, the bounded
attention mask, masked pooling, L2 normalisation) are left out of a `matmuls` build: those ops
run in float there, as the model wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.registry import Registry

INTEGER, MATMULS = "integer", "matmuls"
INTEGER_MODES = ("int8", "uint8")  # the --quantize modes a placement applies to
# Keras layer classes (and their subclasses, keras_hub's included) whose ops int8 breaks.
FRAGILE = ("LayerNormalization", "RMSNormalization", "GroupNormalization",
           "MultiHeadAttention", "Softmax")
# The ops the matmuls placement gives int8 weights, and what each is in ai-edge-quantizer.
MATRIX_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D_TRANSPOSE",
              "BATCH_MATMUL")
# Hybrid (dynamic-range) weights per runtime: tflite-runtime 2.14 runs per-channel hybrid
# weights and gives wrong outputs (MiniLM cosine 0.18), so it gets one scale per tensor.
WEIGHTS = {"litert": "CHANNELWISE", "tflite-runtime": "TENSORWISE"}


@dataclass(frozen=True)
class Kind:
    """One placement."""

    name: str
    summary: str


KINDS: Registry[Kind] = Registry.of("placement", (
    Kind(INTEGER, "every op int8"),
    Kind(MATMULS, "the matrix ops int8 (dynamic-range kernels: int8 weights and multiply-"
                  "accumulates, float in and out), every other op float"),
))


@dataclass(frozen=True)
class Placement:
    """The placement a build uses, and why."""

    kind: str
    reason: str


def fragile_layers(model: Any) -> dict[str, int]:
    """How many layers of each class int8 breaks the model holds (subclasses counted under the
    Keras class they extend), at any depth."""
    from pipeline.rewrites import keras_graph
    from pipeline.tfenv import keras

    classes = [(name, getattr(keras().layers, name)) for name in FRAGILE
               if hasattr(keras().layers, name)]
    counts: dict[str, int] = {}
    for _, layer in keras_graph.walk(model):
        for name, cls in classes:
            if isinstance(layer, cls):
                counts[name] = counts.get(name, 0) + 1
                break
    return counts


def decide(model: Any, mode: str, accelerator: bool, integer_only: bool) -> Placement:
    """The placement for a build: `integer` unless a CPU target's int8 build holds ops that
    int8 breaks and the user did not ask for --integer-only."""
    if mode not in INTEGER_MODES:
        return Placement(INTEGER, f"--quantize {mode} sets every op's precision itself")
    if accelerator:
        return Placement(INTEGER, "the target runs integer models only")
    if integer_only:
        return Placement(INTEGER, "--integer-only")
    fragile = fragile_layers(model)
    if not fragile:
        return Placement(INTEGER, "no layer norm, softmax or attention: every op keeps its "
                                  "answers in int8")
    found = ", ".join(f"{n} {name}" for name, n in fragile.items())
    return Placement(MATMULS, f"the model has {found}, which all-int8 breaks (one int8 scale "
                              "cannot hold a transformer's residual stream): the matrix ops, "
                              "where the multiply-accumulates are, run int8 weights and MACs "
                              "with float in and out, the rest float; --integer-only makes "
                              "every op int8")


def weights(runtime: str) -> str:
    """The hybrid weights' granularity the runtime runs correctly."""
    return WEIGHTS.get(runtime, "CHANNELWISE")
