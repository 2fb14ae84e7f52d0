"""How the host reports a runner that failed: a runtime killed by a signal is a crash with the
step it was in and what the custody check showed, never blamed on a damaged model."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import exit_codes
from pipeline.approximations import Approximation
from pipeline.approximations.measure import single_op_model
from pipeline.device.edge_client import _raise_for, load_check
from pipeline.errors import CheckFailed

CLIP = 4.0
SIGABRT_LOCAL, SIGABRT_SHELL = -6, 128 + 6


class _Session:
    where = "local"

    def explain_failure(self, returncode: int, stderr: str) -> None:
        return None


def _crash(returncode: int, lines: list[str]) -> str:
    with pytest.raises(CheckFailed) as exc:
        _raise_for(_Session(), returncode, lines, "loading m.tflite")
    return str(exc.value)


@pytest.mark.parametrize("returncode", [SIGABRT_LOCAL, SIGABRT_SHELL])
def test_signal_is_a_runtime_crash_with_its_step_and_custody(returncode: int) -> None:
    message = _crash(returncode, [exit_codes.SHA256_MATCHED, "stage loading",
                                  "stage allocating"])
    assert "SIGABRT" in message and "allocating tensors" in message, message
    assert "sha256 matched" in message and "damaged" not in message, message


def test_signal_without_custody_line_claims_nothing_about_the_file() -> None:
    message = _crash(SIGABRT_LOCAL, ["stage loading"])
    assert "loading the model" in message and "sha256" not in message, message


def test_plain_exit_is_not_called_a_crash_or_damage() -> None:
    message = _crash(1, ["Traceback (most recent call last):", "KeyError: 'x'"])
    assert "KeyError" in message and "damaged" not in message and "killed" not in message


def _excess_branches(x):
    """The tanh-clip formulation that aborted tflite-runtime 2.14: relu(-x - 4) is zero on
    every calibration sample in [-1, 1], so its int8 range is degenerate."""
    from keras import ops

    xc = x - ops.relu(x - CLIP) + ops.relu(x * -1.0 - CLIP)
    return x * ops.sigmoid(x + xc * xc * xc * 0.07)


def test_real_runtime_abort_is_reported_as_a_crash(tmp_path: Path) -> None:
    approx = Approximation(name="excess", summary="", reference=lambda x: x,
                           keras_fn=_excess_branches, int8_ops=frozenset(),
                           uses_gelu_op=False, float_error=(1.0, 1.0))
    model = tmp_path / "m.tflite"
    model.write_bytes(single_op_model(approx, (1, 64), -1.0, 1.0))
    ok, message = load_check(model, "tflite-runtime")
    assert not ok
    assert "SIGABRT" in message and "allocating tensors" in message, message
    assert "sha256 matched" in message and "damaged" not in message, message


def test_runtime_info_lines_are_not_its_last_words() -> None:
    message = _crash(SIGABRT_LOCAL, ["stage allocating",
                                     "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."])
    assert "last words" not in message and "XNNPACK" not in message, message
