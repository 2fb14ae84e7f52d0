"""Stage data: the shipped demo data and every bad-input case of a data file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import UserError
from pipeline.inputs.data import DEFAULT_DATA, SPLIT_KEYS, load_dataset


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_demo", DEFAULT_DATA.with_name("make_demo_regression.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_data_is_reproducible_from_its_script() -> None:
    shipped = np.load(DEFAULT_DATA)
    regenerated = _generator().make()
    assert sorted(shipped.files) == sorted(regenerated)
    for key, arr in regenerated.items():
        np.testing.assert_array_equal(shipped[key], arr)


def test_demo_data_splits() -> None:
    data = load_dataset()
    assert [task.name for task in data.tasks] == ["regression"]
    assert len(data.x_eval) >= 1000
    assert data.x_train.shape[1:] == data.x_eval.shape[1:] == data.x_calib.shape[1:] == (10,)
    # splits are disjoint draws, not copies
    assert not np.array_equal(data.x_train[:10], data.x_eval[:10])


def _write(tmp_path: Path, **override) -> Path:
    base = dict(np.load(DEFAULT_DATA))
    base.update(override)
    for key in [k for k, v in base.items() if v is None]:
        del base[key]
    path = tmp_path / "d.npz"
    np.savez(path, **base)
    return path


@pytest.mark.parametrize("override, message", [
    ({"x_eval": None}, "missing arrays x_eval"),
    ({"x_calib": np.zeros((0, 10), np.float32)}, "is empty"),
    ({"x_train": np.full((5, 10), np.nan, np.float32)}, "NaN/inf"),
    ({"y_eval": np.array([np.inf] * 1000, np.float32)}, "NaN/inf"),
    ({"x_eval": np.array([["a"] * 10] * 3)}, "dtype"),
    ({"x_calib": np.zeros((10, 7), np.float32)}, "sample shape"),
    ({"y_train": np.zeros((3, 1), np.float32)}, "samples but"),
])
def test_bad_data_is_one_clear_error(tmp_path: Path, override: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_dataset(_write(tmp_path, **override))


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_dataset(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(UserError, match="not a readable .npz"):
        load_dataset(bad)


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    base = dict(np.load(DEFAULT_DATA))
    base["x_eval"] = np.array([{"a": 1}] * 3, dtype=object)
    path = tmp_path / "p.npz"
    np.savez(path, **base)
    with pytest.raises(UserError):
        load_dataset(path)


def test_split_keys_documented() -> None:
    readme = (DEFAULT_DATA.parent / "README.md").read_text()
    for key in SPLIT_KEYS:
        assert key in readme
