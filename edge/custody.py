"""The chain of custody of a build folder: custody.json holds the sha256 of every artifact as the
stage that wrote it left it. `python -m edge verify DIR` checks a folder against it anywhere,
with the standard library only (on a device too); `gelu-edge verify DIR` is the same check."""

from __future__ import annotations

import hashlib
import json
import os

LEDGER = "custody.json"
FORMAT = 1
BLOCK = 1 << 20


def sha256_file(path: str) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def read(folder: str) -> dict[str, dict[str, object]] | None:
    """name -> {"sha256", "bytes", "stage"} from the folder's ledger; None without one. A ledger
    that is not valid JSON of this format raises ValueError."""
    path = os.path.join(folder, LEDGER)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or data.get("format") != FORMAT or \
            not isinstance(data.get("files"), dict):
        raise ValueError(f"{path} is not a gelu-edge custody ledger (format {FORMAT})")
    return data["files"]


def problems(folder: str, names: list[str] | None = None) -> list[str]:
    """What differs between the folder and its ledger (every file, or `names`): one line each,
    naming the file and what happened to it."""
    try:
        files = read(folder)
    except (OSError, ValueError) as exc:
        return [f"{LEDGER}: damaged or unreadable ({exc})"]
    if files is None:
        return [f"{LEDGER} is missing: this folder was not written by gelu-edge, or by an "
                "older version"]
    found = []
    for name in names if names is not None else sorted(files):
        entry = files.get(name)
        path = os.path.join(folder, name)
        if entry is None:
            if os.path.exists(path):
                found.append(f"{name}: not in {LEDGER} (written by something else)")
            continue
        if not os.path.isfile(path):
            found.append(f"{name}: missing (written by {entry.get('stage')})")
        elif os.path.getsize(path) != entry.get("bytes") or sha256_file(path) != entry["sha256"]:
            found.append(f"{name}: changed or damaged since {entry.get('stage')} wrote it "
                         "(its sha256 differs)")
    return found
