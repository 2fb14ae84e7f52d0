# Usage: PYTHONPATH=/tmp/aeq python quantize.py <recipe_name>
# Quantizes /tmp/aeq-work/float.tflite with ai_edge_quantizer.recipe.<recipe_name>() -> <recipe_name>.tflite
import sys, time, json
import numpy as np
from ai_edge_quantizer import quantizer, recipe
OUT = "/tmp/aeq-work"; name = sys.argv[1]
t0 = time.time()
q = quantizer.Quantizer(f"{OUT}/float.tflite")
q.load_quantization_recipe(getattr(recipe, name)())
calib = None
if q.need_calibration:
    c = np.load("/tmp/gelu-edge-bench-minilm/model/calibration.npz")
    data = {"serving_default": [{"padding_mask": c["x_padding_mask"][i:i+1], "token_ids": c["x_token_ids"][i:i+1]}
                                for i in range(300)]}
    calib = q.calibrate(data, num_threads=1)
    print("calibrated tensors:", len(calib), "in", round(time.time() - t0, 1), "s", flush=True)
res = q.quantize(calib)
res.export_model(f"{OUT}/{name}.tflite", overwrite=True)
secs = round(time.time() - t0, 1)
print("done", name, secs, "s")
json.dump({"recipe": name, "calibrated": calib is not None, "calibration_rows": 300 if calib is not None else 0,
           "seconds": secs}, open(f"{OUT}/{name}.quant.json", "w"))
