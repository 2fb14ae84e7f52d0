# Diagnostic: quantization params of SOFTMAX / GELU input tensors and FC weights in the quantized models.
import numpy as np
from ai_edge_litert.interpreter import Interpreter
for f in ["static_wi8_ai8", "static_wi8_ai16", "dynamic_wi8_afp32"]:
    it = Interpreter(model_path=f"/tmp/aeq-work/{f}.tflite")
    td = {t["index"]: t for t in it.get_tensor_details()}
    print("==", f)
    seen = set()
    for o in it._get_ops_details():
        if o["op_name"] in ("SOFTMAX", "GELU", "FULLY_CONNECTED") and o["op_name"] not in seen:
            seen.add(o["op_name"])
            for k in o["inputs"][:2]:
                t = td[k]; qp = t["quantization_parameters"]
                sc = qp["scales"]; print(f"  {o['op_name']} in {t['name'][:70]} {np.dtype(t['dtype']).name} n_scales={len(sc)} scale[0]={sc[0] if len(sc) else None} range~{(sc[0]*(127 if np.dtype(t['dtype'])==np.int8 else 32767)) if len(sc) else None}")
