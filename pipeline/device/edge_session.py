"""The runner at one open place, with the model staged there once (over SSH, a copy of a 22 MB
model costs seconds): a timing probe, runs split over several runner processes, and traces of
one sample with every tensor kept. The place's session outlives every call."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.device import edge_client
from pipeline.device.places import Session
from pipeline.inputs import batch
from pipeline.progress import Quiet, Reporter
from pipeline.tempdirs import temporary_directory


@dataclass
class Staged:
    """A model staged at an open place: the session and the runner's --model/--sha256."""

    session: Session
    model: Path
    name: str  # the place, for messages
    args: list[str] = field(default_factory=list)

    @classmethod
    def stage(cls, session: Session, model: Path, name: str) -> Staged:
        """Copy the model there (where the place needs a copy) once."""
        return cls(session, model, name, edge_client.model_args(session, model))


@dataclass(frozen=True)
class Probe:
    """What one probe measured: seconds per invoke, to start a runner (process, imports, load),
    the CPUs it may use, and the runner's info."""

    invoke_s: float
    start_s: float
    cpus: int
    about: dict[str, Any]


def probe(staged: Staged, runtime: str, timeout: float, runners: int = 1) -> Probe:
    """Start `runners` runners side by side that each load the model and time a few invokes,
    as the runs will go (two runners on two cores that something else also uses are each
    slower than one alone); the rest of their wall time is what a runner start costs there.
    On a place with fewer CPUs than runners, the time is scaled back to one runner per CPU."""
    start = time.monotonic()
    abouts = edge_client.stream_many(
        staged.session, [["probe", *staged.args, "--runtime", runtime]] * runners, 0,
        f"timing {runtime} ({staged.name})", Quiet(), timeout,
        f"timing {staged.model.name} on {staged.name}")
    wall = time.monotonic() - start
    about = abouts[0]
    cpus = int(about["cpus"])
    invoke_s = float(np.mean([a["invoke_s"] for a in abouts])) * min(1.0, cpus / runners)
    invokes = max(a["invoke_s"] * (a["repeats"] + a["warmup"]) for a in abouts)
    about.update(staged.session.describe())
    return Probe(invoke_s=invoke_s, start_s=max(wall - invokes, 0.0), cpus=cpus, about=about)


@dataclass
class SplitRun:
    """Outputs of the first `done` samples (every output's y<i>, y_raw<i>) and the runner's
    info; `done` is less than asked when the deadline came first."""

    arrays: dict[str, np.ndarray]
    about: dict[str, Any]
    done: int


def _done_prefix(counts: list[int], total: int) -> int:
    """Samples 0..k-1 all done, when runner p ran samples p, p + P, p + 2P, ... and finished
    counts[p] of them."""
    processes = len(counts)
    missing = [p + processes * k for p, k in enumerate(counts) if p + processes * k < total]
    return min(missing, default=total)


def run_split(staged: Staged, x: batch.Inputs, runtime: str, reporter: Reporter,
              timeout: float, processes: int = 1, deadline_s: float | None = None,
              delegate: str | None = None, cancel: threading.Event | None = None
              ) -> SplitRun:
    """Run every sample of `x`, interleaved over `processes` runners side by side (runner p
    takes samples p, p + P, ...; so a deadline leaves a prefix done, not a gap); each runner
    stops starting samples `deadline_s` after it started."""
    total = batch.count(x)
    processes = max(1, min(processes, total))
    session = staged.session
    with temporary_directory("split") as tmp:
        arg_lists, outputs = [], []
        for p in range(processes):
            part = Path(tmp) / f"part{p}"
            part.mkdir()
            x_path = edge_client.save_inputs(part, batch.take(x, slice(p, None, processes)))
            outputs.append(session.output_path(f"y{p}.npz"))
            args = ["run", *staged.args, "--input", session.put(x_path), "--output",
                    outputs[-1], "--runtime", runtime]
            if delegate:
                args += ["--delegate", delegate]
            if deadline_s is not None:
                args += ["--deadline", f"{max(deadline_s, 0.0):.1f}"]
            arg_lists.append(args)
        where = "" if session.where == "local" else f" ({staged.name})"
        label = f"running on {runtime}{where}" + (f", {processes} runners" if processes > 1
                                                  else "")
        abouts = edge_client.stream_many(session, arg_lists, total, label, reporter, timeout,
                                         f"running {staged.model.name} on {staged.name}",
                                         cancel=cancel)
        parts = []
        for p, remote in enumerate(outputs):
            local = Path(tmp) / f"part{p}" / "y.npz"
            session.fetch(remote, local)
            with np.load(local, allow_pickle=False) as npz:
                parts.append({k: npz[k] for k in npz.files})
    counts = [int(a["samples"]) for a in abouts]
    done = _done_prefix(counts, total)
    arrays = {}
    for key in parts[0]:
        merged = np.zeros((total, *parts[0][key].shape[1:]), parts[0][key].dtype)
        for p, part in enumerate(parts):
            merged[p::processes][:counts[p]] = part[key]
        arrays[key] = merged[:done]
    about = {**abouts[0], "samples": done}
    about.update(session.describe())
    return SplitRun(arrays, about, done)


@dataclass
class Trace:
    """One sample with every tensor kept: raw values by tensor index, the outputs, the groups
    of tensors that share a buffer, and the runner's info (with `kernels`)."""

    tensors: dict[int, np.ndarray]
    outputs: list[np.ndarray]
    aliases: list[list[int]]
    about: dict[str, Any]


def trace(staged: Staged, x: batch.Inputs, runtime: str, indices: list[int],
          kernels: list[str], timeout: float, timeout_source: str) -> list[Trace]:
    """The first sample of `x` traced once per kind of kernels, side by side."""
    session = staged.session
    with temporary_directory("trace") as tmp:
        folder = Path(tmp)
        x_path = edge_client.save_inputs(folder, batch.take(x, slice(0, 1)))
        index_path = folder / "indices.txt"
        index_path.write_text(",".join(map(str, indices)), encoding="ascii")
        x_remote, index_remote = session.put(x_path), session.put(index_path)
        outputs = [session.output_path(f"trace-{k}.npz") for k in kernels]
        arg_lists = [["trace", *staged.args, "--input", x_remote, "--output", out,
                      "--indices", f"@{index_remote}", "--kernels", k, "--runtime", runtime]
                     for k, out in zip(kernels, outputs)]
        abouts = edge_client.stream_many(
            session, arg_lists, 0, f"keeping every tensor ({', '.join(kernels)} kernels, "
            f"{staged.name})", Quiet(), timeout,
            f"tracing {staged.model.name} on {staged.name}", timeout_source)
        traces = []
        for kind, remote, about in zip(kernels, outputs, abouts):
            local = folder / f"trace-{kind}.npz"
            session.fetch(remote, local)
            with np.load(local, allow_pickle=False) as npz:
                tensors = {int(k[1:]): npz[k] for k in npz.files if k.startswith("t")}
                outs = [npz[f"y{i}"] for i in range(sum(k.startswith("y") for k in npz.files))]
            traces.append(Trace(tensors, outs, [list(g) for g in about.pop("aliases")], about))
    return traces
