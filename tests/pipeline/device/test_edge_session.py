"""The runner at an open place: runs split over two runners give what one runner gives, and a
deadline leaves a prefix of the samples done."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.device import edge_client
from pipeline.device.edge_client import LOCAL
from pipeline.device.edge_session import Staged, _done_prefix, probe, run_split
from pipeline.errors import CheckFailed
from pipeline.progress import Quiet

TIMEOUT_S = 120.0


@pytest.mark.parametrize("counts, total, done", [
    ([3, 2], 10, 5), ([5, 5], 10, 10), ([1, 0], 10, 1), ([0, 4], 8, 0), ([2, 2, 1], 7, 5),
])
def test_interleaved_runners_leave_a_prefix_done(counts: list[int], total: int, done: int
                                                 ) -> None:
    assert _done_prefix(counts, total) == done


def test_two_runners_give_what_one_gives(demo_build: Path) -> None:
    x = np.random.default_rng(0).standard_normal((101, 10)).astype(np.float32)
    with LOCAL.session(Quiet()) as session:
        staged = Staged.stage(session, demo_build / "model.tflite", "this machine")
        one = run_split(staged, x, "tflite-runtime", Quiet(), TIMEOUT_S, processes=1)
        two = run_split(staged, x, "tflite-runtime", Quiet(), TIMEOUT_S, processes=2)
        found = probe(staged, "tflite-runtime", TIMEOUT_S)
    assert one.done == two.done == 101 and set(one.arrays) == set(two.arrays)
    for key in one.arrays:
        np.testing.assert_array_equal(one.arrays[key], two.arrays[key])
    assert found.invoke_s > 0 and found.start_s > 0 and found.cpus >= 1


class _SleepingSession:
    """A place whose runner sleeps: only cancelling can end it early."""

    where = "local"

    def command(self, args: list[str]) -> tuple[list[str], None]:
        return [sys.executable, "-c", f"import time; time.sleep({SLEEP_S})"], None


SLEEP_S = 60.0
CANCEL_AFTER_S = 0.5


def test_cancelling_stops_every_runner_at_once() -> None:
    """What the parity stage does when the float models fail or Ctrl-C comes while its runners
    run in another thread: the runners are killed, not waited for."""
    cancel = threading.Event()
    threading.Timer(CANCEL_AFTER_S, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(CheckFailed, match="cancelled"):
        edge_client.stream_many(_SleepingSession(), [["run"], ["run"]], 2, "sleeping", Quiet(),
                                TIMEOUT_S, "sleeping", cancel=cancel)
    assert time.monotonic() - started < SLEEP_S / 4
