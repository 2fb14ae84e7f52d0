"""A signal inside a held section interrupts when the section ends; one that comes while
captured_native_output points the descriptors elsewhere still leaves them where they were, so
the "interrupted" line reaches the user (a CI run lost it once, the signal sent the moment the
build printed its first stage)."""

from __future__ import annotations

import os
import signal

import pytest

from pipeline import interrupts, tfenv


@pytest.fixture(autouse=True)
def _fresh() -> None:
    interrupts.reset()
    yield
    interrupts.reset()


def test_a_signal_outside_a_held_section_interrupts_at_once() -> None:
    with pytest.raises(KeyboardInterrupt):
        interrupts.handler(signal.SIGINT, None)
    assert interrupts.SIGNALLED == [signal.SIGINT]


def test_a_signal_inside_a_held_section_interrupts_when_it_ends() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.held():
            with interrupts.held():
                interrupts.handler(signal.SIGTERM, None)
                done.append("inner")
            done.append("outer")  # nested: only the outermost section's end raises
    assert done == ["inner", "outer"]
    with interrupts.held():  # the signal was delivered once
        pass


def test_a_signal_while_the_descriptors_move_leaves_them_where_they_were(monkeypatch) -> None:
    before = os.fstat(2).st_ino, os.fstat(1).st_ino
    real_dup2 = os.dup2
    calls = []

    def dup2_then_signal(fd: int, fd2: int) -> None:
        real_dup2(fd, fd2)
        calls.append(fd2)
        if len(calls) == 1:  # between the two redirections, as a Ctrl-C may come
            interrupts.handler(signal.SIGINT, None)

    monkeypatch.setattr(os, "dup2", dup2_then_signal)
    with pytest.raises(KeyboardInterrupt):
        with tfenv.captured_native_output():
            pytest.fail("the interruption comes before the block runs")
    monkeypatch.setattr(os, "dup2", real_dup2)
    assert (os.fstat(2).st_ino, os.fstat(1).st_ino) == before
    assert calls == [1, 2, 1, 2]  # both redirected, both put back
