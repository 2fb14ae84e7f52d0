"""The float models' outputs on the evaluation samples, computed in a thread while the convert
stage runs. The converter calibrates on one core (MiniLM: 75 s at 100 % of one core of two)
while the float models' outputs need about 20 s of compute; `build` starts them beside it, and
parity takes them if they are for the samples it compares. Only for models that predict
through XLA (big ones, many samples): a small model's outputs take a fraction of a second.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.context import Context
from pipeline.inputs import batch
from pipeline.inputs.signature import describe, uses_xla

Outputs = tuple[list[np.ndarray], list[np.ndarray]]  # (float reference, replaced float)


@dataclass
class Prefetch:
    """Outputs being computed for the first `samples` evaluation samples."""

    samples: int
    future: Future[Outputs]
    stop: threading.Event

    def take(self, samples: int) -> Outputs | None:
        """The outputs, once computed, if they are for `samples` samples; None if not, or if
        computing them failed (the caller computes them itself and reports the error)."""
        if samples != self.samples:
            self.cancel()
            return None
        try:
            return self.future.result()
        except Exception:  # noqa: BLE001 - parity computes them again and says what is wrong
            return None

    def cancel(self) -> None:
        """Stop after the current batch and wait for it (a build that failed or was
        interrupted leaves no thread running TensorFlow behind)."""
        self.stop.set()
        try:
            self.future.result()
        except Exception:  # noqa: BLE001 - stopped or failed: nothing to keep
            pass


def start(ctx: Context, samples: int | None) -> Prefetch | None:
    """Start computing the float models' outputs on the evaluation samples parity will use
    (the first `samples`, or all), or None where it is not worth a thread."""
    assert ctx.data is not None
    x = ctx.data.x_eval if samples is None else batch.take(ctx.data.x_eval, slice(0, samples))
    reference, replaced = ctx.reference(), ctx.replaced()
    if not uses_xla(reference, x):
        return None
    signature, stop = describe(reference), threading.Event()

    def outputs() -> Outputs:
        return (signature.predict(reference, x, stop=stop),
                signature.predict(replaced, x, stop=stop))

    pool = ThreadPoolExecutor(1, thread_name_prefix="gelu-edge-float-outputs")
    future: Future[Outputs] = pool.submit(outputs)
    pool.shutdown(wait=False)
    return Prefetch(samples=batch.count(x), future=future, stop=stop)


def cancel(prefetched: Any) -> None:
    """Stop a prefetch if there is one."""
    if prefetched is not None:
        prefetched.cancel()
