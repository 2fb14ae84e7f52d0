"""`--approx auto`: choose the GELU approximation for a target and runtime from measured figures.

Among the variants whose single-op int8 model the target's own check accepts, take the most
accurate (int8 max error in LSB over the input codes below the top one, where every variant's
output saturates; then the mean error) whose cost is acceptable: at most MAX_SLOWDOWN times the
cheapest accepted variant's, or within NOISE_MS of it for latency:
- CPU targets: the cost is the latency on the target's runtime (on tflite-runtime 2.14 only the
  lookup table is fast; on LiteRT several are);
- accelerator targets (coral, ethos-u): the ops run on the NPU, where CPU latency says nothing;
  the cost is the number of int8 ops (each is one pass over the tensor).
Where the build's placement runs GELU in float (`matmuls`: only the matrix ops are int8), the
int8 figures say nothing of it: the float single-op model's error against exact GELU and its
latency on the runtime decide, by the same rule.
Figures are measured once per runtime version and machine and cached under the user's cache
folder ($XDG_CACHE_HOME/gelu-edge, default ~/.cache/gelu-edge); delete the file to re-measure.
Each variant's entry carries a fingerprint of the code that defines and measures it, so a
variant that changed (new coefficients, other ops) is measured again, alone.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any

from pipeline import approximations, artifacts, targets
from pipeline.approximations import measure as approx_measure
from pipeline.cache import cache_dir, unwritable
from pipeline.device import edge_client
from pipeline.progress import Reporter
from pipeline.records import AutoChoice, Candidate
from pipeline.targets import runtime_choice

AUTO = "auto"
MAX_SLOWDOWN = 4.0
# Auto's latency is the fastest of LATENCY_REPEATS invokes: it is measured once and cached, and
# noise only ever adds time (medians of the lookup table on LiteRT ranged 0.09 to over 0.18 ms
# between runs here, enough to flip the choice; the fastest invoke stayed at 0.09-0.10 ms).
# The variants are timed in LATENCY_ROUNDS interleaved rounds and each keeps its fastest round,
# so a burst of load on a shared machine slows one round of one variant, not its figure (a CI
# run under load once timed the lookup table alone at over 0.2 ms and chose x*sigmoid).
LATENCY_REPEATS = 20
LATENCY_ROUNDS = 3
# Latencies at LATENCY_SHAPE closer than this are not told apart.
NOISE_MS = 0.1
CACHE_FORMAT = 5  # 5: the float figures
PRECISIONS = ("int8", "float")
_WARNED: set[Path] = set()  # caches already said to be unwritable, this process
_UNSAVED: dict[Path, dict[str, dict[str, Any]]] = {}  # their measurements, kept in memory


def _cache_path(runtime: str) -> Path:
    about = edge_client.runtime_info(runtime)
    return cache_dir() / (f"approx-{runtime}-{about['version']}-{about['machine']}"
                          f"-v{CACHE_FORMAT}.json")


def fingerprint(name: str) -> str:
    """sha256 (first 16 hex digits) of the source of a variant's module and of the code that
    measures it: a change to either makes its cached figures stale."""
    approx = approximations.get(name)
    digest = hashlib.sha256()
    for module in (inspect.getmodule(approx.keras_fn), approximations.base, approx_measure):
        digest.update(Path(inspect.getfile(module)).read_bytes())
    return digest.hexdigest()[:16]


def measurements(runtime: str, reporter: Reporter) -> dict[str, dict[str, Any]]:
    """Per-variant int8 error, latency on `runtime`, ops and accepting targets: from the cache,
    or measured now (about a minute) and cached."""
    path = _cache_path(runtime)
    names = approximations.names()
    cached: dict[str, dict[str, Any]] = _UNSAVED.get(path, {})
    if not cached and path.is_file():
        try:
            cached = artifacts.read_json(path)["variants"]
            if not all(isinstance(v, dict) for v in cached.values()):
                raise TypeError("a variant's entry is not an object")
        except (ValueError, KeyError, TypeError, AttributeError):
            reporter.warn(f"ignoring damaged measurement cache {path}")
            cached = {}
    missing = [n for n in names if cached.get(n, {}).get("fingerprint") != fingerprint(n)]
    if missing:
        why = unwritable()
        if why is not None and path not in _WARNED:
            _WARNED.add(path)
            reporter.warn(f"cache folder {cache_dir()} not writable ({why}): measurements not "
                          "kept (set XDG_CACHE_HOME to a folder you can write)")
        kept = f"; once, cached in {path}" if why is None else ""
        reporter.info(f"measuring {len(missing)} GELU approximation(s) on {runtime} for "
                      f"--approx auto ({', '.join(missing)}{kept})")
        results = approx_measure.measure_all(
            missing, approx_measure.FLOAT_RANGE, approx_measure.INT8_RANGE, None, runtime, reporter)
        latency = _interleaved_latency([r.name for r in results], runtime)
        float_latency = _interleaved_latency([r.name for r in results], runtime, float_model=True)
        for r in results:
            float_max, float_mean = approx_measure.float_runtime_error(
                approximations.get(r.name), *approx_measure.FLOAT_RANGE, runtime)
            cached[r.name] = {"float_max_err": float_max, "float_mean_err": float_mean,
                              "float_latency_ms": float_latency[r.name],
                              "int8_max_lsb": r.int8_max_lsb,
                              "int8_max_lsb_without_top_code": r.int8_max_lsb_without_top_code,
                              "int8_mean_lsb": r.int8_mean_lsb,
                              "ops": r.ops, "accepted_by": r.accepted_by,
                              "latency_ms": latency[r.name],
                              "latency_shape": list(approx_measure.LATENCY_SHAPE),
                              "fingerprint": fingerprint(r.name)}
        if why is None:
            artifacts.write_json(path, {"runtime": edge_client.runtime_info(runtime),
                                        "variants": cached})
        else:
            _UNSAVED[path] = cached
    return {n: cached[n] for n in names}


def _interleaved_latency(names: list[str], runtime: str, float_model: bool = False
                         ) -> dict[str, float]:
    """The fastest invoke of each variant at LATENCY_SHAPE (its int8 single-op model, or its
    float one) over LATENCY_ROUNDS rounds that take the variants in turn."""
    shape = approx_measure.LATENCY_SHAPE
    models = {n: approx_measure.float_single_op_model(approximations.get(n), shape)
              if float_model else
              approx_measure.single_op_model(approximations.get(n), shape,
                                             *approx_measure.INT8_RANGE) for n in names}
    best = {n: float("inf") for n in names}
    for _ in range(LATENCY_ROUNDS):
        for n in names:
            best[n] = min(best[n], approx_measure.latency(models[n], runtime, LATENCY_REPEATS,
                                                           "min_ms"))
    return best


def choose(target_name: str, runtime: str | None, reporter: Reporter,
           precision: str = "int8") -> AutoChoice:
    """The auto choice for a target and runtime, for a GELU that runs in `precision` ("int8",
    or "float" where the placement keeps it float): chosen name, why, and every candidate."""
    target = targets.get(target_name)
    runtime = runtime_choice.choose(target.runtime, runtime).name
    figures = measurements(runtime, reporter)
    floating = precision == "float"
    # In float every variant is plain float ops a CPU runtime runs (the measurement ran them).
    accepted = set(figures) if floating else \
        {n for n, f in figures.items() if target.name in f["accepted_by"]}
    if not accepted:
        from pipeline.errors import UserError

        raise UserError(f"no GELU approximation is accepted by target {target.name!r}; "
                        "run 'gelu-edge approximations' to see why")
    latency_key = "float_latency_ms" if floating else "latency_ms"

    def cost(f: dict[str, Any]) -> float:
        return float(sum(f["ops"].values()) if target.accelerator and not floating
                     else f[latency_key])

    cheapest = min(cost(figures[n]) for n in accepted)
    limit = MAX_SLOWDOWN * cheapest if target.accelerator and not floating else \
        max(MAX_SLOWDOWN * cheapest, cheapest + NOISE_MS)
    lut = figures.get("lut", {}).get(latency_key)
    candidates = []
    for name, f in figures.items():
        candidates.append(Candidate(
            name=name, accepted=name in accepted, int8_max_lsb=f["int8_max_lsb"],
            int8_max_lsb_without_top_code=f["int8_max_lsb_without_top_code"],
            int8_mean_lsb=f["int8_mean_lsb"], latency_ms=f[latency_key],
            ops=int(sum(f["ops"].values())), vs_lut=f[latency_key] / lut if lut else None,
            cost=cost(f), vs_cheapest=cost(f) / cheapest,
            cost_ok=name in accepted and cost(f) <= limit,
            float_max_err=f["float_max_err"], float_mean_err=f["float_mean_err"],
            float_latency_ms=f["float_latency_ms"]))
    rank = _float_accuracy if floating else _accuracy
    eligible = [c for c in candidates if c.cost_ok]
    best = min(eligible, key=rank)
    shape = "x".join(map(str, approx_measure.LATENCY_SHAPE))
    if target.accelerator and not floating:
        rule = (f"cost acceptable: at most {MAX_SLOWDOWN:g}x the ops of the cheapest accepted "
                f"variant ({cheapest:g}; {best.name} has {best.ops}; the ops run on "
                f"{target.name}'s accelerator, so CPU latency is not their cost)")
    else:
        rule = (f"cost acceptable: at most {limit:.3g} ms on {runtime} at {shape} "
                f"({MAX_SLOWDOWN:g}x the fastest accepted variant's {cheapest:.3g} ms, or "
                f"{NOISE_MS:g} ms more; {best.name}: {best.latency_ms:.3g} ms)")
    if floating:
        lo, hi = approx_measure.FLOAT_RANGE
        reason = (f"{best.name}: the most accurate in float of the {len(accepted)} variants "
                  f"({best.float_max_err:.2g} max, {best.float_mean_err:.2g} mean absolute "
                  f"error against exact GELU on [{lo:g}, {hi:g}], run on {runtime}; this "
                  f"build's placement runs GELU in float, so its int8 figures do not apply); "
                  f"{rule}")
    else:
        reason = (f"{best.name}: the most accurate of the {len(accepted)} variants target "
                  f"{target.name!r} accepts ({best.int8_max_lsb_without_top_code:.3f} LSB max "
                  f"below the saturated top input code, {best.int8_mean_lsb:.3f} mean, over the "
                  f"int8 codes on {runtime}); {rule}")
    return AutoChoice(chosen=best.name, target=target.name, runtime=runtime, reason=reason,
                      max_slowdown=MAX_SLOWDOWN,
                      cost="ops" if target.accelerator and not floating else "latency_ms",
                      cost_limit=limit, candidates=sorted(candidates, key=rank),
                      precision=precision)


def _accuracy(c: Candidate) -> tuple[float, float]:
    """How auto ranks variants for int8: max error below the top code, then mean error."""
    return c.int8_max_lsb_without_top_code, c.int8_mean_lsb


def _float_accuracy(c: Candidate) -> tuple[float, float]:
    """How auto ranks variants run in float: max absolute error, then mean."""
    return c.float_max_err or 0.0, c.float_mean_err or 0.0
