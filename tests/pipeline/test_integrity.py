"""Nothing certified that was not measured: damaged artifacts refused, faults as one line, bad
data refused up front, one build per folder, nothing left behind by an interrupted build."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from components import unavailable
from helpers import corrupt

from pipeline import artifacts
from pipeline.inputs.data import DEFAULT_DATA

pytestmark = pytest.mark.slow  # end-to-end builds

REPO = Path(__file__).resolve().parents[2]
CORRUPTIONS = 8  # seeded trials per artifact (benchmarks/corruption.py runs 30)


def _one_line(r) -> bool:
    return len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


@pytest.mark.parametrize("seed", range(CORRUPTIONS))
def test_a_damaged_model_is_refused_by_report_parity_and_verify(cli, demo_build: Path,
                                                                tmp_path: Path, seed: int) -> None:
    out = tmp_path / "b"
    shutil.copytree(demo_build, out)
    corrupt(out / "model.tflite", seed)
    for args, code in ((("report", out), 2), (("parity", "--out", out), 2),
                       (("verify", out), 1), (("diff", demo_build, out), 2)):
        r = cli(*args)
        assert r.code == code and "model.tflite" in (r.err + r.out), (args, r)
    proc = subprocess.run([sys.executable, "-m", "edge", "verify", str(out)], cwd=REPO,
                          capture_output=True, text=True)  # the device-side check, stdlib only
    assert proc.returncode == 1 and "model.tflite" in proc.stderr


@pytest.mark.parametrize("seed", range(CORRUPTIONS))
def test_a_damaged_report_record_is_refused(cli, demo_build: Path, tmp_path: Path,
                                            seed: int) -> None:
    out = tmp_path / "b"
    shutil.copytree(demo_build, out)
    corrupt(out / "parity.json", seed)
    r = cli("report", out)
    assert r.code == 2 and "parity.json" in r.err and _one_line(r), r
    r = cli("diff", demo_build, out)
    assert r.code == 2 and "parity.json" in r.err, r


def test_the_runner_refuses_a_model_that_is_not_the_one_sent(demo_build: Path,
                                                             tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    shutil.copy(demo_build / "model.tflite", model)
    expected = artifacts.sha256_file(demo_build / "model.tflite")
    corrupt(model, 0)
    proc = subprocess.run([sys.executable, "-m", "edge", "load", "--model", str(model),
                           "--sha256", expected], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 6 and "not the model that was sent" in proc.stderr


def test_two_builds_into_one_folder(tmp_path: Path) -> None:
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "pipeline", "build", "--out", str(out), "--epochs", "2",
           "--samples", "50"]
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / ".gelu-edge.lock").is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and f"is in use by process {first.pid}" in second.stderr
        # --wait: a report of the folder once the first build has let go of it (the report
        # needs the finished build's parity.json: run any earlier, it would fail)
        waited = subprocess.run([sys.executable, "-m", "pipeline", "report", "--out", str(out),
                                 "--wait"], cwd=REPO, capture_output=True, text=True,
                                timeout=300)
        assert waited.returncode == 0, waited.stderr
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0


@pytest.mark.parametrize("sig, stage", [(signal.SIGINT, "[1/5]"), (signal.SIGTERM, "[3/5]"),
                                        (signal.SIGKILL, "[4/5]")])
def test_an_interrupted_build_leaves_nothing_half_written(tmp_path: Path, sig: int,
                                                          stage: str) -> None:
    """The signal goes when the build prints the stage's header, not after a fixed time: a
    build that finished first would have nothing to interrupt."""
    out = tmp_path / "b"
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "build", "--out", str(out),
                             "--epochs", "3"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.lstrip().startswith(stage):
            break
    assert proc.poll() is None, "".join(seen)  # the build is still running: interrupt it
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    if sig != signal.SIGKILL:
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    # Every finished artifact matches the ledger; nothing half-written under a final name.
    if (out / artifacts.LEDGER).is_file():
        from edge import custody

        assert custody.problems(str(out)) == []
    if sig != signal.SIGKILL:
        assert not list(out.glob(f"{artifacts.TMP_PREFIX}*"))
        assert not list((tmp_path / "tmp").glob("gelu-edge-*"))
    # What a SIGKILL leaves, the next run sweeps.
    again = subprocess.run([sys.executable, "-m", "pipeline", "report", str(out)], cwd=REPO,
                           capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in again.stderr
    assert not list((tmp_path / "tmp").glob("gelu-edge-*"))


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True)
    return proc.returncode == 0


def test_a_full_disk_is_one_line_and_keeps_what_was_there(cli, demo_build: Path,
                                                          tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "400k"):
        unavailable("mounting a small tmpfs needs root and a kernel that allows it here")
    try:
        out = disk / "b"
        shutil.copytree(demo_build, out, ignore=shutil.ignore_patterns("plots", "*.html"))
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        (disk / "filler").write_bytes(b"\0" * (disk.stat().st_size or 1))
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(0, free - 4096))
        r = cli("report", out)
        assert r.code == 2 and "No space left on device" in r.err and _one_line(r), r
        assert not list(out.rglob(f"{artifacts.TMP_PREFIX}*"))
        # The earlier stages' artifacts are as they were; the ledger still matches the folder.
        report = set(artifacts.STAGE_OUTPUTS["report"]) | {artifacts.LEDGER}
        for name, data in before.items():
            if name not in report:
                assert (out / name).read_bytes() == data, name
        from edge import custody

        assert custody.problems(str(out)) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_read_only_folder_is_one_line(cli, demo_build: Path, tmp_path: Path) -> None:
    disk = tmp_path / "ro"
    if not _mount_tmpfs(disk, "8m"):
        unavailable("mounting a tmpfs needs root and a kernel that allows it here")
    try:
        shutil.copytree(demo_build, disk / "b")
        if subprocess.run(["mount", "-o", "remount,ro", str(disk)]).returncode != 0:
            unavailable("remounting read-only is not allowed here")
        r = cli("report", disk / "b")
        assert r.code == 2 and "Read-only file system" in r.err and _one_line(r), r
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_values_float32_cannot_hold_are_refused_up_front(cli, tmp_path: Path,
                                                        demo_build: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([[1e39] * 10]), y=np.zeros((1, 1)))
    r = cli("build", "--model", demo_build / "model_float.keras", "--data", path,
            "--out", tmp_path / "b")
    assert r.code == 2 and "beyond float32's range" in r.err and "array 'x'" in r.err, r
    assert _one_line(r) and not (tmp_path / "b" / "model_float.keras").exists()


def test_far_outliers_are_warned_with_their_share_of_the_error(cli, demo_build: Path,
                                                              tmp_path: Path) -> None:
    with np.load(DEFAULT_DATA) as d:
        x, y = d["x_eval"][:300].copy(), d["y_eval"][:300]
        calib = d["x_calib"]
    x[7, 3] = 1e30
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.save(tmp_path / "c.npy", calib)
    r = cli("build", "--model", demo_build / "model_float.keras", "--data", tmp_path / "d.npz",
            "--calibration", tmp_path / "c.npy", "--out", tmp_path / "b")
    assert "samples 7)" in r.err and "calibration spans outside" in r.err, r
    from pipeline.records import ParityRecord

    warnings = " ".join(ParityRecord.load(tmp_path / "b").data.warnings)
    assert "carry" in warnings and "% of the quantization error power" in warnings


@pytest.mark.parametrize("flag, value", [("--min-snr-db", "-5"), ("--min-cosine", "nan"),
                                         ("--max-error-lsb", "-1"),
                                         ("--min-top1-agreement", "1.5")])
def test_bad_thresholds_are_refused_before_any_stage(cli, tmp_path: Path, flag: str,
                                                     value: str) -> None:
    start = time.monotonic()
    r = cli("build", "--out", tmp_path / "b", flag, value)
    assert r.code == 2 and "outside" in r.err and _one_line(r), r
    assert not (tmp_path / "b" / "model_float.keras").exists()
    assert time.monotonic() - start < 10


def test_damaged_inputs_are_bad_input_not_interrupted(cli, tmp_path: Path,
                                                      demo_build: Path) -> None:
    (tmp_path / "empty.npy").write_bytes(b"")
    r = cli("build", "--model", demo_build / "model_float.keras", "--calibration",
            tmp_path / "empty.npy", "--out", tmp_path / "b")
    assert r.code == 2 and "damaged or truncated" in r.err and _one_line(r), r
    head = (demo_build / "model_float.keras").read_bytes()[:4000]
    (tmp_path / "cut.keras").write_bytes(head)
    r = cli("build", "--model", tmp_path / "cut.keras", "--out", tmp_path / "b")
    assert r.code == 2 and "damaged or truncated" in r.err and "not found" not in r.err, r


def test_artifacts_take_the_umask_mode(demo_build: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.tflite", "parity.json", "model_float.keras"):
        assert (demo_build / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
