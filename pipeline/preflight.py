"""Checks made before any work, so that input the run would refuse later costs nothing and
leaves the build folder as it was: the folders and files it will write (--out, --junit), the
temporary folder, the place the runner runs in (--on, --delegate). Each refuses with a
UserError (one line, exit 2) saying what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline import artifacts
from pipeline.artifacts import TMP_PREFIX
from pipeline.device import places
from pipeline.errors import UserError
from pipeline.tempdirs import can_write_in

# Free space the temporary folder needs: the converter writes the model there as a SavedModel
# (a few MB for small models; the demo's is under 1 MB) and LLVM's MLIR files beside it. Less
# than this ends in "LLVM ERROR: IO failure" halfway through a build.
MIN_TMP_FREE_BYTES = 64 * 1024 * 1024
# Seconds loading the delegate library in a separate process may take (dlopen takes ms).
DELEGATE_LOAD_TIMEOUT_S = 20.0


def _existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (the folder it would be created in)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _can_write_in(folder: Path) -> str | None:
    return can_write_in(folder, TMP_PREFIX)


def writable_folder(folder: Path, flag: str) -> None:
    """FOLDER can be written into, or created where it would be."""
    found = _existing(folder)
    if not found.is_dir():
        raise UserError(f"{flag} {folder}: {found} is a file, not a folder")
    why = _can_write_in(found)
    if why is not None:
        raise UserError(f"{flag} {folder}: cannot write in {found} ({why}); choose a folder "
                        "you can write to")


def nothing_foreign(out: Path) -> None:
    """OUT holds no file under an artifact's name that gelu-edge did not write (a stage would
    refuse to replace it, after the stages before it had run)."""
    if Path(out).is_dir():
        artifacts.refuse_foreign(out)


def writable_file(path: Path, flag: str) -> None:
    """PATH can be written (its folder writable or creatable, and it is not a folder)."""
    if Path(path).is_dir():
        raise UserError(f"{flag} {path} is a folder: name a file")
    writable_folder(Path(path).parent, flag)


def temp_folder() -> None:
    """The temporary folder (TMPDIR) is a writable folder with some free space. Python alone
    would quietly use another one, the converter's LLVM would not."""
    name = os.environ.get("TMPDIR") or tempfile.gettempdir()
    folder = Path(name)
    fix = "set TMPDIR to a folder with space, e.g. TMPDIR=$HOME/tmp"
    if not folder.is_dir():
        raise UserError(f"the temporary folder {folder} (TMPDIR) does not exist: {fix}")
    why = _can_write_in(folder)
    if why is not None:
        raise UserError(f"cannot write in the temporary folder {folder} (TMPDIR): {why}; {fix}")
    free = shutil.disk_usage(folder).free
    if free < MIN_TMP_FREE_BYTES:
        raise UserError(f"the temporary folder {folder} (TMPDIR) has {free // 1024} KiB free, "
                        f"gelu-edge needs at least {MIN_TMP_FREE_BYTES // 2**20} MiB: {fix}")


def place(on: places.OnOptions) -> None:
    """--on is well formed and answers; --delegate, when it runs here, loads."""
    where = on.place()
    where.check_reachable()
    if on.delegate and on.on == places.LOCAL:
        delegate(on.delegate)


def delegate(library: str) -> None:
    """The external delegate library loads here (dlopen, as the runner will; in a separate
    process, so that nothing it starts stays in this one)."""
    if os.sep in library and not Path(library).is_file():
        raise UserError(f"--delegate {library}: no such file")
    try:
        proc = subprocess.run([sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])",
                               library], capture_output=True, text=True,
                              timeout=DELEGATE_LOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return  # slow to load is not refused here; the runner has its own time-out
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["cannot load it"])[-1]
        raise UserError(f"--delegate {library}: cannot load it ({last.removeprefix('OSError: ')});"
                        " give the path of the library (e.g. /usr/lib/libedgetpu.so.1) or "
                        "install it")
