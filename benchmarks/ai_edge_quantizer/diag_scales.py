"""Quantization parameters of the SOFTMAX, GELU and FULLY_CONNECTED inputs in the quantized models.

Prints, for the first op of each kind, its first two inputs' dtype and scale, and the range the
scale covers. The SOFTMAX input scales are the figures quoted in results.json and README.md.
"""

from __future__ import annotations

import numpy as np
from folders import parser

OPS = ("SOFTMAX", "GELU", "FULLY_CONNECTED")


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    from ai_edge_litert.interpreter import Interpreter

    for f in ["static_wi8_ai8", "static_wi8_ai16", "dynamic_wi8_afp32"]:
        it = Interpreter(model_path=str(args.work / f"{f}.tflite"))
        td = {t["index"]: t for t in it.get_tensor_details()}
        print("==", f)
        seen = set()
        for o in it._get_ops_details():
            if o["op_name"] not in OPS or o["op_name"] in seen:
                continue
            seen.add(o["op_name"])
            for k in o["inputs"][:2]:
                t = td[k]
                sc = t["quantization_parameters"]["scales"]
                dtype = np.dtype(t["dtype"])
                qmax = 127 if dtype == np.int8 else 32767
                print(f"  {o['op_name']} in {t['name'][:70]} {dtype.name} n_scales={len(sc)} "
                      f"scale[0]={sc[0] if len(sc) else None} "
                      f"range~{sc[0] * qmax if len(sc) else None}")


if __name__ == "__main__":
    main()
