"""Quantize --work/float.tflite with ai-edge-quantizer's stock recipes.

Each recipe name is a function of ai_edge_quantizer.recipe; writes --work/<recipe>.tflite and
--records/<recipe>.quant.json (whether it calibrated, on how many rows, how long it took).
ai-edge-quantizer is not a dependency of gelu-edge: put the folder it is installed in on
PYTHONPATH (README.md, "Rerun").
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from folders import RECIPES, parser

CALIBRATION_ROWS = 300  # the first rows of calibration.npz, batch 1


def quantize(name: str, args: argparse.Namespace) -> None:
    """One recipe, calibrated on CALIBRATION_ROWS rows when the recipe needs it."""
    from ai_edge_quantizer import quantizer, recipe

    t0 = time.time()
    q = quantizer.Quantizer(str(args.work / "float.tflite"))
    q.load_quantization_recipe(getattr(recipe, name)())
    calib = None
    if q.need_calibration:
        c = np.load(args.data / "calibration.npz")
        data = {"serving_default": [{"padding_mask": c["x_padding_mask"][i:i + 1],
                                     "token_ids": c["x_token_ids"][i:i + 1]}
                                    for i in range(CALIBRATION_ROWS)]}
        calib = q.calibrate(data, num_threads=1)
        print("calibrated tensors:", len(calib), "in", round(time.time() - t0, 1), "s",
              flush=True)
    res = q.quantize(calib)
    res.export_model(str(args.work / f"{name}.tflite"), overwrite=True)
    secs = round(time.time() - t0, 1)
    print("done", name, secs, "s")
    record = {"recipe": name, "calibrated": calib is not None,
              "calibration_rows": CALIBRATION_ROWS if calib is not None else 0, "seconds": secs}
    (args.records / f"{name}.quant.json").write_text(json.dumps(record))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("recipes", nargs="*", default=RECIPES,
                   help="ai_edge_quantizer.recipe function names (default: %(default)s)")
    args = p.parse_args()
    for name in args.recipes:
        quantize(name, args)


if __name__ == "__main__":
    main()
