# Same as convert_and_ref.py's conversion (frozen concrete function, plain float32, no optimizations),
# but passing trackable_obj so the converter takes the non-deprecated path, which writes a
# "serving_default" SignatureDef (ai-edge-quantizer drives the model through signature runners).
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras, keras_hub
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
SRC = "/tmp/gelu-edge-bench-minilm/model"; OUT = "/tmp/aeq-work"
m = keras.saving.load_model(f"{SRC}/minilm.keras")
specs = [tf.TensorSpec([1, 64], tf.int32, name=n) for n in ("padding_mask", "token_ids")]
fn = tf.function(lambda p, t: m({"padding_mask": p, "token_ids": t})).get_concrete_function(*specs)
conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)], trackable_obj=m)
open(f"{OUT}/float.tflite", "wb").write(conv.convert())
