"""Run a chain of segment models (a build's segments.json) as one model: each segment in turn,
the tensors that cross a cut handed on as the runtime produced them (int8 codes stay codes).

segments.json (written by the host's convert stage) gives, per segment, its file (relative to
the manifest's folder), where it runs (`accelerator` or `host`) and its inputs and outputs as
tensor indices of the whole model; and the whole model's inputs and outputs. With a delegate
(the Edge TPU's libedgetpu.so.1) the accelerator segments load it; the host segments run on
the CPU runtime. Needs numpy and the runtime only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.runner import (
    ModelLoadError,
    _dequantize,
    _quantize,
    open_interpreter,
    runtime_words,
    stage,
)

ACCELERATOR = "accelerator"


def read_manifest(path: str, compiled: str | None = None) -> dict[str, Any]:
    """segments.json, with each segment's file made absolute; with `compiled` (the folder
    edgetpu_compiler wrote, relative to the manifest's), the accelerator segments' compiled
    files (NAME_edgetpu.tflite) in their place. ValueError if it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        folder = os.path.dirname(os.path.abspath(path))
        for segment in manifest["segments"]:
            segment["path"] = os.path.join(folder, segment["file"])
            if compiled is not None and segment["side"] == ACCELERATOR:
                stem = os.path.splitext(os.path.basename(segment["file"]))[0]
                segment["path"] = os.path.join(folder, compiled, f"{stem}_edgetpu.tflite")
            if not os.path.isfile(segment["path"]):
                raise ValueError(f"segment file {segment['path']} is missing")
        manifest["model_inputs"], manifest["model_outputs"]  # noqa: B018 (both required)
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a segments manifest ({type(exc).__name__}: {exc})"
                         ) from None
    return manifest


def run_chain(manifest: dict[str, Any], x: np.ndarray | list[np.ndarray], runtime: str,
              num_threads: int | None = None, delegate: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Every sample of `x` through the chain; the same arrays as runner.run_model gives for
    the whole model (`y<i>` dequantized, `y_raw<i>` as produced)."""
    xs = x if isinstance(x, list) else [x]
    segments = manifest["segments"]
    interpreters = []
    for n, segment in enumerate(segments):
        stage(f"loading segment {n}")
        interpreters.append(open_interpreter(
            segment["path"], runtime, num_threads,
            delegate if segment["side"] == ACCELERATOR else None))
    if len(xs) != len(manifest["model_inputs"]):
        raise ValueError(f"{len(xs)} input arrays for a chain of a model with "
                         f"{len(manifest['model_inputs'])} inputs")
    # Each model input is quantized as the first segment that reads it takes it.
    feeds: dict[int, dict[str, Any]] = {}
    for segment, interpreter in zip(segments, interpreters):
        for t, d in zip(segment["inputs"], interpreter.get_input_details()):
            if t in manifest["model_inputs"]:
                feeds.setdefault(t, d)
    n = len(xs[0])
    for x, t in zip(xs, manifest["model_inputs"]):
        if t in feeds and x.shape[1:] != tuple(feeds[t]["shape"][1:]):
            raise ValueError(f"inputs have sample shape {x.shape[1:]}, the model wants "
                             f"{tuple(feeds[t]['shape'][1:])}")
    raw: dict[int, list[np.ndarray]] = {t: [] for t in manifest["model_outputs"]}
    details: dict[int, dict[str, Any]] = {}
    stage("invoking")
    for i in range(n):
        tensors = {t: _quantize(x[i:i + 1], feeds[t])
                   for x, t in zip(xs, manifest["model_inputs"]) if t in feeds}
        for segment, interpreter in zip(segments, interpreters):
            for t, d in zip(segment["inputs"], interpreter.get_input_details()):
                interpreter.set_tensor(d["index"], tensors[t])
            try:
                interpreter.invoke()
            except RuntimeError as exc:
                raise ModelLoadError(runtime_words(exc)) from None
            for t, d in zip(segment["outputs"], interpreter.get_output_details()):
                tensors[t] = interpreter.get_tensor(d["index"]).copy()
                details[t] = d
        for t in raw:
            raw[t].append(tensors[t])
        if progress is not None and (i + 1 == n or (i + 1) % 50 == 0):
            progress(i + 1, n)
    arrays: dict[str, Any] = {}
    for i, t in enumerate(manifest["model_outputs"]):
        y_raw = np.concatenate(raw[t], axis=0)
        arrays[f"y{i}"], arrays[f"y_raw{i}"] = _dequantize(y_raw, details[t]), y_raw
    q = [[float(details[t]["quantization"][0]), int(details[t]["quantization"][1])]
         for t in manifest["model_outputs"]]
    return {**arrays, "y": arrays["y0"], "y_raw": arrays["y_raw0"],
            "output_quantization": q[0], "outputs_quantization": q,
            "outputs": len(q), "samples": len(arrays["y_raw0"])}
