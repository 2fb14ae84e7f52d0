"""A symlink loop given for --model, --data or --calibration is called one, not "not found"."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import UserError
from pipeline.inputs.calibration import load_calibration
from pipeline.inputs.data import load_dataset
from pipeline.inputs.models import load_model


@pytest.mark.parametrize("suffix, load", [
    (".keras", load_model),
    (".npz", load_dataset),
    (".npy", lambda p: load_calibration(p, None)),
])
def test_symlink_loop_is_named(tmp_path: Path, suffix: str, load) -> None:
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(UserError, match="symlink loop") as exc:
        load(a)
    assert "not found" not in str(exc.value)
