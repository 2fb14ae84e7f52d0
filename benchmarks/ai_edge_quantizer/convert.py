"""Float TFLite models of MiniLM and the Keras reference embeddings.

Writes, in --work:
  ref.npy            Keras model.predict (batch 32) embeddings of the evaluation rows
  float_nosig.tflite the frozen concrete function converted exactly as benchmarks/minilm.py's
                     BARE_CONVERT does, minus the optimizations: no SignatureDef
  float.tflite       the same conversion with trackable_obj, which takes the converter's
                     non-deprecated path and writes a "serving_default" SignatureDef
                     (ai-edge-quantizer drives the model through signature runners)
"""

from __future__ import annotations

import os
import time

import numpy as np
from folders import parser


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    import keras_hub
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    m = keras.saving.load_model(args.data / "minilm.keras")
    e = np.load(args.data / "evaluation.npz")
    ref = m.predict({"padding_mask": e["x_padding_mask"], "token_ids": e["x_token_ids"]},
                    batch_size=32, verbose=0)
    ref = np.asarray(ref, dtype=np.float32)
    print("ref", ref.shape, "norms", np.linalg.norm(ref, axis=1)[:3])
    np.save(args.work / "ref.npy", ref)
    specs = [tf.TensorSpec([1, 64], tf.int32, name=n) for n in ("padding_mask", "token_ids")]
    fn = tf.function(lambda p, t: m({"padding_mask": p, "token_ids": t})
                     ).get_concrete_function(*specs)
    for name, extra in (("float_nosig", {}), ("float", {"trackable_obj": m})):
        conv = tf.lite.TFLiteConverter.from_concrete_functions(
            [convert_variables_to_constants_v2(fn)], **extra)
        (args.work / f"{name}.tflite").write_bytes(conv.convert())
    print("versions tf", tf.__version__, "keras", keras.__version__, "keras_hub",
          keras_hub.__version__, "numpy", np.__version__)
    print("seconds", round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
