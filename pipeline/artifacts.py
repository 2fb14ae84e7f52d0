"""Artifact names in a build folder, atomic writes, and the chain of custody.

Every artifact is written to a temporary file in the same folder (named TMP_PREFIX..., swept by
every stage, so a killed run leaves nothing behind for long) and renamed into place, so an
interrupted or failed step never leaves a half-written file under a final name. Its sha256 then
goes into the folder's ledger (custody.json, `edge.custody`), and every later read checks it:
a file changed or damaged after its stage wrote it is refused, naming the stage to run again.
When a stage is about to write, it first removes what it and the later stages wrote before
(`clear_from`): a folder never mixes a new model with the report of an old one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from edge import custody
from pipeline import stages

MODEL_FLOAT = "model_float.keras"
MODEL_APPROX = "model_approx.keras"
MODEL_TFLITE = "model.tflite"
TRAIN_RECORD = "train.json"
APPROX_RECORD = "approximate.json"
CONVERT_RECORD = "convert.json"
QUANT_PLAN = "quant_plan.json"
PARITY_JSON = "parity.json"
PARITY_MD = "parity.md"
PARITY_SAMPLES = "parity_samples.npz"
MANIFEST = "manifest.json"
GELU_CURVES = "gelu_sites.npz"
PARITY_HTML = "parity.html"
PLOTS_DIR = "plots"
SEGMENTS_DIR = "segments"  # a coral build's Edge TPU and host segments
SEGMENTS_JSON = "segments.json"
FOLDERS = (PLOTS_DIR, SEGMENTS_DIR)  # artifact folders: the files in them are artifacts
LEDGER = custody.LEDGER
TMP_PREFIX = ".gelu-edge-tmp-"
# An unexpected error's traceback; in the ledger under ERROR_STAGE, so any stage's next run
# removes it with the artifacts it supersedes.
ERROR_LOG = "error.log"
ERROR_STAGE = "error"

# What each stage writes; in the stages' order (pipeline.stages.ORDER).
_OUTPUTS: dict[str, tuple[str, ...]] = {
    "train": (MODEL_FLOAT, TRAIN_RECORD),
    "approximate": (MODEL_APPROX, APPROX_RECORD),
    "convert": (MODEL_TFLITE, QUANT_PLAN, SEGMENTS_DIR, SEGMENTS_JSON, CONVERT_RECORD),
    "parity": (GELU_CURVES, PARITY_SAMPLES, PARITY_JSON),
    "report": (PARITY_MD, PARITY_HTML, PLOTS_DIR, MANIFEST),
}
STAGE_OUTPUTS: dict[str, tuple[str, ...]] = {name: _OUTPUTS[name] for name in stages.ORDER}
_STAGE_OF = {name: stage for stage, names in STAGE_OUTPUTS.items() for name in names}
_hashes: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256, this process


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content (remembered while the file stays as it is)."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hashes:
        _hashes[key] = custody.sha256_file(str(path))
    return _hashes[key]


def _artifact(final: Path) -> tuple[Path, str] | None:
    """(build folder, name in it) when `final` is a build artifact; None for other files."""
    if final.parent.name in FOLDERS:
        return final.parent.parent, f"{final.parent.name}/{final.name}"
    if final.name in _STAGE_OF:
        return final.parent, final.name
    return None


def _write_ledger(folder: Path, files: dict[str, Any]) -> None:
    data = json.dumps({"format": custody.FORMAT, "files": dict(sorted(files.items()))}, indent=2)
    _replace_into(folder / LEDGER, (data + "\n").encode("utf-8"))


def _ledger(folder: Path) -> dict[str, Any]:
    from pipeline.errors import UserError

    try:
        return custody.read(str(folder)) or {}
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder / LEDGER} is damaged ({exc}): rebuild the folder "
                        f"(gelu-edge build --out {folder})") from None


def _register(folder: Path, name: str) -> None:
    files = _ledger(folder)
    path = folder / name
    stage = _STAGE_OF.get(name.split("/")[0], "report")
    files[name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size, "stage": stage}
    _write_ledger(folder, files)


def write_error_log(folder: Path, text: str) -> Path:
    """Write an unexpected error's traceback to FOLDER/error.log, listed in the ledger (so
    `verify` accepts it and the next run of any stage removes it); return its path."""
    folder = Path(folder)
    path = folder / ERROR_LOG
    refuse_foreign(folder, ERROR_LOG)  # a user's error.log is not replaced
    _replace_into(path, text.encode("utf-8"))
    files = _ledger(folder)
    files[ERROR_LOG] = {"sha256": sha256_file(path), "bytes": path.stat().st_size,
                        "stage": ERROR_STAGE}
    _write_ledger(folder, files)
    return path


def refuse_foreign(folder: Path, name: str | None = None) -> None:
    """Refuse (UserError) a file in FOLDER under an artifact's name (`name`, or any stage's)
    that the ledger does not list: gelu-edge did not write it, so it neither removes nor
    replaces it."""
    folder = Path(folder)
    names = [name] if name is not None else [n for n in _STAGE_OF if n not in FOLDERS]
    present = [n for n in names if (folder / n).exists()]
    if not present:
        return
    listed = _ledger(folder) if (folder / LEDGER).is_file() else {}
    foreign = [n for n in present if n not in listed]
    if foreign:
        from pipeline.errors import UserError

        raise UserError(f"{folder / foreign[0]} is not in {folder / LEDGER}: gelu-edge did not "
                        "write it (or an older version did) and neither removes nor replaces "
                        "it; move it away, or choose another --out")


def clear_from(out: Path, stage: str, keep: tuple[str, ...] = ()) -> None:
    """Remove what `stage` and every later stage wrote to OUT (but `keep`), and their ledger
    entries: called right before a stage writes, so its new artifacts are never read beside an
    older run's later ones. Temporary files a killed run left are swept too.

    Only files the folder's ledger lists are removed, never anything else (a folder without a
    ledger loses nothing), and all of them or none: each is first moved aside, so a file that
    cannot be removed leaves the earlier build as it was (a UserError says which file)."""
    out = Path(out)
    sweep(out)
    if not (out / LEDGER).is_file():
        return
    files = _ledger(out)
    stages = list(STAGE_OUTPUTS)
    gone_stages = {*stages[stages.index(stage):], ERROR_STAGE}
    names = [n for n, entry in files.items()
             if entry.get("stage") in gone_stages and n.split("/")[0] not in keep]
    if not names:
        return
    moved = _move_aside(out, [n for n in names if (out / n).is_file()])
    try:
        _write_ledger(out, {n: v for n, v in files.items() if n not in names})
    except OSError as exc:
        _restore(out, moved, f"cannot update {out / LEDGER} ({exc.strerror or exc})")
    for _, aside in moved:
        with contextlib.suppress(OSError):  # a leftover is swept by the next run
            aside.unlink()
    for folder in FOLDERS:
        if any(n.startswith(f"{folder}/") for n in names) and (out / folder).is_dir():
            with contextlib.suppress(OSError):  # not empty: it holds files gelu-edge did not write
                (out / folder).rmdir()


def _move_aside(out: Path, names: list[str]) -> list[tuple[str, Path]]:
    """Rename each file to a temporary name in OUT; on the first failure, put back the ones
    already moved and raise a UserError saying nothing was removed."""
    moved: list[tuple[str, Path]] = []
    for name in names:
        aside = out / f"{TMP_PREFIX}gone-{uuid.uuid4().hex[:12]}"
        try:
            os.rename(out / name, aside)
        except OSError as exc:
            _restore(out, moved, f"cannot remove the earlier build's {out / name} "
                     f"({exc.strerror or exc})")
        moved.append((name, aside))
    return moved


def _restore(out: Path, moved: list[tuple[str, Path]], why: str) -> NoReturn:
    """Put moved files back under their names and raise a UserError that says whether the
    earlier build is intact."""
    from pipeline.errors import UserError

    lost = []
    for name, aside in reversed(moved):
        try:
            os.rename(aside, out / name)
        except OSError:
            lost.append(name)
    if lost:
        raise UserError(f"{why}; clearing the earlier build half failed: {', '.join(lost)} "
                        f"could not be put back (`gelu-edge verify {out}` lists what is "
                        "missing); rebuild the folder")
    raise UserError(f"{why}; nothing was removed: the earlier build in {out} is as it was")


def sweep(folder: Path) -> None:
    """Remove temporary files a killed run left in a build folder (and its artifact folders)."""
    for parent in (Path(folder), *(Path(folder) / f for f in FOLDERS)):
        if parent.is_dir():
            for stale in parent.glob(f"{TMP_PREFIX}*"):
                stale.unlink(missing_ok=True)


def _mode() -> int:
    """The mode a new file gets under the user's umask (mkstemp alone gives 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _replace_into(final: Path, data: bytes) -> None:
    """Write bytes to a temporary file beside `final` and rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, _mode())
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it to `final` only if the block succeeds,
    and record the artifact's sha256 in the build folder's ledger. A file under an artifact's
    name that the ledger does not list is not gelu-edge's to replace: a UserError."""
    final = Path(final)
    found = _artifact(final)
    if found is not None:
        refuse_foreign(*found)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{final.stem}.",
                                    suffix=f"{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, _mode())
        os.replace(tmp, final)
        found = _artifact(final)
        if found is not None:
            _register(*found)
    except OSError as exc:
        if not exc.filename:  # numpy's and Keras's disk-full errors name no file
            exc.filename = str(final)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(final: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text(final: Path, text: str) -> None:
    """Write text (UTF-8) atomically."""
    write_bytes(final, text.encode("utf-8"))


def write_json(final: Path, obj: Any) -> None:
    """Write JSON atomically, indented and with a trailing newline."""
    write_text(final, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_npz(final: Path, **arrays: np.ndarray) -> None:
    """Write a compressed .npz atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(final, buf.getvalue())


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_bytes(path: Path) -> bytes:
    """Read an artifact's bytes; an unreadable file is a UserError naming it."""
    from pipeline.errors import UserError

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def require(build_dir: Path, name: str, made_by: str) -> Path:
    """Path of an artifact an earlier stage wrote, checked against the folder's ledger: a clear
    UserError if it is missing, or changed or damaged since (and what to run again)."""
    from pipeline.errors import UserError

    path = Path(build_dir) / name
    again = f"run `gelu-edge {made_by} --out {build_dir}`"
    if not path.is_file():
        raise UserError(f"{path} not found: {again} first (or `gelu-edge build`)")
    found = custody.problems(str(build_dir), [name])
    if found and not (Path(build_dir) / LEDGER).is_file():
        found = [f"{LEDGER} is missing: {name} was not written by gelu-edge (or by an older "
                 "version)"]
    if found:
        raise UserError(f"{build_dir}: {found[0]}; {again} again (or `gelu-edge build`)")
    return path


def verify(build_dir: Path, before: str | None = None, optional: tuple[str, ...] = ()
           ) -> None:
    """Refuse (UserError, one line) a build folder whose files no longer match their ledger:
    every file, or those of the stages before `before` (the ones a stage about to run reads).
    An `optional` file may be missing (the report needs no models), not changed. A folder with
    no artifacts at all is left to `require`, which says which stage to run first."""
    from pipeline.errors import UserError

    folder = Path(build_dir)
    if not any((folder / name).exists() for name in _STAGE_OF):
        return
    stages = list(STAGE_OUTPUTS)
    names = None
    if before is not None:
        earlier = stages[:stages.index(before)]
        files = _ledger(folder) if (folder / LEDGER).is_file() else {}
        names = [n for n, entry in files.items() if entry.get("stage") in earlier
                 and (n not in optional or (folder / n).exists())]
    found = custody.problems(str(folder), names)
    if found:
        stage = next((s for s in stages for n in STAGE_OUTPUTS[s] if found[0].startswith(n)),
                     "build")
        raise UserError(f"{build_dir}: {found[0]}; run `gelu-edge {stage} --out {build_dir}` "
                        f"again (or `gelu-edge build`){_more(found)}")


def _more(found: list[str]) -> str:
    return f" ({len(found) - 1} more problem(s): gelu-edge verify)" if len(found) > 1 else ""
