# Op counts and I/O dtypes/quantization of each model (ai_edge_litert, no invoke).
import collections, json, numpy as np
from ai_edge_litert.interpreter import Interpreter
out = {}
for f in ["float_nosig", "float", "static_wi8_ai8", "dynamic_wi8_afp32", "static_wi8_ai16"]:
    it = Interpreter(model_path=f"/tmp/aeq-work/{f}.tflite")
    ops = collections.Counter(o["op_name"] for o in it._get_ops_details())
    td = it.get_tensor_details()
    dt = collections.Counter(np.dtype(t["dtype"]).name for t in td)
    out[f] = {"ops": dict(sorted(ops.items())), "tensor_dtypes": dict(dt),
              "inputs": [(d["name"], np.dtype(d["dtype"]).name, d["quantization"]) for d in it.get_input_details()],
              "outputs": [(d["name"], np.dtype(d["dtype"]).name, d["quantization"]) for d in it.get_output_details()]}
    print(f, json.dumps(out[f]))
json.dump(out, open("/tmp/aeq-work/models.json", "w"), indent=1)
