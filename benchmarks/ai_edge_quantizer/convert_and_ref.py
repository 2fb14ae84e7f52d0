# Float TFLite (BARE_CONVERT approach, no optimizations) + Keras reference embeddings.
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras, keras_hub
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
SRC = "/tmp/gelu-edge-bench-minilm/model"; OUT = "/tmp/aeq-work"
t0 = time.time()
m = keras.saving.load_model(f"{SRC}/minilm.keras")
e = np.load(f"{SRC}/evaluation.npz")
ref = m.predict({"padding_mask": e["x_padding_mask"], "token_ids": e["x_token_ids"]}, batch_size=32, verbose=0)
ref = np.asarray(ref, dtype=np.float32)
print("ref", ref.shape, "norms", np.linalg.norm(ref, axis=1)[:3])
np.save(f"{OUT}/ref.npy", ref)
specs = [tf.TensorSpec([1, 64], tf.int32, name=n) for n in ("padding_mask", "token_ids")]
fn = tf.function(lambda p, t: m({"padding_mask": p, "token_ids": t})).get_concrete_function(*specs)
conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
open(f"{OUT}/float_nosig.tflite", "wb").write(conv.convert())
print("versions tf", tf.__version__, "keras", keras.__version__, "keras_hub", keras_hub.__version__, "numpy", np.__version__)
print("seconds", round(time.time() - t0, 1))
