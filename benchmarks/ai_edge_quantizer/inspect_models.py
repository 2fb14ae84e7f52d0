"""Op counts and I/O dtypes and quantization of each model (ai_edge_litert, no invoke).

Reads --work/<model>.tflite, writes --records/models.json.
"""

from __future__ import annotations

import collections
import json

import numpy as np
from folders import MODELS, parser


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    from ai_edge_litert.interpreter import Interpreter

    out = {}
    for f in MODELS:
        it = Interpreter(model_path=str(args.work / f"{f}.tflite"))
        ops = collections.Counter(o["op_name"] for o in it._get_ops_details())
        td = it.get_tensor_details()
        dt = collections.Counter(np.dtype(t["dtype"]).name for t in td)
        out[f] = {"ops": dict(sorted(ops.items())), "tensor_dtypes": dict(dt),
                  "inputs": [(d["name"], np.dtype(d["dtype"]).name, d["quantization"])
                             for d in it.get_input_details()],
                  "outputs": [(d["name"], np.dtype(d["dtype"]).name, d["quantization"])
                              for d in it.get_output_details()]}
        print(f, json.dumps(out[f]))
    (args.records / "models.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
