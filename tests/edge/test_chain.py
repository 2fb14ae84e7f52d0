"""`python -m edge chain`: a chain of segment models run in turn gives what the whole model
gives; a manifest that is not one, or a segment file that is missing, is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO

from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import segments
from pipeline.tflite import slice as slice_


def _edge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def _chain(folder: Path, model: Path) -> Path:
    """The tiny model cut after its first op: two segments and their manifest."""
    graph = tflite_graph.read(model)
    cuts = [segments.Cut(segments.HOST, (0,)),
            segments.Cut(segments.HOST, tuple(range(1, len(graph.ops))))]
    (folder / "segments").mkdir()
    listed = []
    for n, (c, b) in enumerate(zip(cuts, segments.boundaries(graph, cuts))):
        name = f"segments/{n}_host.tflite"
        (folder / name).write_bytes(slice_.submodel(model.read_bytes(), c.ops, b.inputs,
                                                    b.outputs))
        listed.append({"side": "host", "file": name, "inputs": list(b.inputs),
                       "outputs": list(b.outputs)})
    manifest = folder / "segments.json"
    manifest.write_text(json.dumps({"segments": listed, "model_inputs": list(graph.inputs),
                                    "model_outputs": list(graph.outputs)}))
    return manifest


@pytest.mark.parametrize("runtime", ["tflite-runtime", "litert"])
def test_a_chain_gives_the_whole_models_codes(tmp_path: Path, tiny_model: Path,
                                              runtime: str) -> None:
    manifest = _chain(tmp_path, tiny_model)
    x = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    whole = _edge("run", "--model", str(tiny_model), "--input", str(tmp_path / "x.npy"),
                  "--output", str(tmp_path / "y.npz"), "--runtime", runtime)
    chained = _edge("chain", "--manifest", str(manifest), "--input", str(tmp_path / "x.npy"),
                    "--output", str(tmp_path / "c.npz"), "--runtime", runtime)
    assert whole.returncode == 0 and chained.returncode == 0, chained.stderr
    assert json.loads(chained.stdout.strip().splitlines()[-1])["segments"] == 2
    with np.load(tmp_path / "y.npz") as y, np.load(tmp_path / "c.npz") as c:
        np.testing.assert_array_equal(y["y_raw"], c["y_raw"])
        np.testing.assert_array_equal(y["y"], c["y"])


def test_a_bad_manifest_is_one_line(tmp_path: Path, tiny_model: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 8), np.float32))
    manifest = _chain(tmp_path, tiny_model)
    (tmp_path / "segments" / "1_host.tflite").unlink()
    proc = _edge("chain", "--manifest", str(manifest), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "c.npz"))
    assert proc.returncode == 2 and "1_host.tflite is missing" in proc.stderr
    (tmp_path / "junk.json").write_text("{not json")
    proc = _edge("chain", "--manifest", str(tmp_path / "junk.json"), "--input",
                 str(tmp_path / "x.npy"), "--output", str(tmp_path / "c.npz"))
    assert proc.returncode == 2 and "is not a segments manifest" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c.npz").exists()
