"""`--approx auto`: the choice per target and runtime, from measured figures cached per runtime."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import read_json

from pipeline import approximations, targets
from pipeline.approximations import auto as approx_auto
from pipeline.approximations import measure as approx_measure
from pipeline.approximations.measure import single_op_model
from pipeline.cache import cache_dir
from pipeline.check import check_model
from pipeline.progress import Quiet

INT8_RANGE = approx_measure.INT8_RANGE
EXACT_FLOAT_GELU_MAX_ERR = 1e-5  # the float GELU op against exact GELU: float32 rounding


@pytest.mark.parametrize("target", targets.names())
def test_auto_never_picks_a_variant_the_target_rejects(target: str, tmp_path: Path) -> None:
    choice = approx_auto.choose(target, None, Quiet())
    model = tmp_path / "chosen.tflite"
    model.write_bytes(single_op_model(approximations.get(choice.chosen), (1, 256), *INT8_RANGE))
    assert check_model(model, target).compatible, choice
    chosen = next(c for c in choice.candidates if c.name == choice.chosen)
    assert chosen.accepted and chosen.cost_ok
    rank = lambda c: (c.int8_max_lsb_without_top_code, c.int8_mean_lsb)  # noqa: E731
    better = [c for c in choice.candidates if c.cost_ok and rank(c) < rank(chosen)]
    assert not better, better


def test_auto_follows_the_runtime_and_the_op_set() -> None:
    # On tflite-runtime 2.14 only the lookup table is fast (issue #3), and coral rejects GELU.
    assert approx_auto.choose("rpi", None, Quiet()).chosen == "lut"
    coral = approx_auto.choose("coral", None, Quiet())
    assert coral.chosen == "relu-corr" and coral.cost == "ops"
    assert next(c for c in coral.candidates if c.name == "lut").accepted is False


def test_auto_keeps_the_lookup_table_on_litert_whatever_the_timing_noise() -> None:
    """On LiteRT x*sigmoid and h-GELU run faster than the lookup table; a few hundredths of a
    millisecond of noise must not trade its 0.5 LSB for their 1.3-2.7."""
    host = approx_auto.choose("host", None, Quiet())
    assert host.chosen == "lut", host.reason
    assert host.cost_limit >= min(c.cost for c in host.candidates if c.accepted) \
        + approx_auto.NOISE_MS


def test_measurements_are_cached_per_runtime_version(monkeypatch: pytest.MonkeyPatch) -> None:
    approx_auto.choose("rpi", None, Quiet())  # measured (or cached) once
    cache = list(cache_dir().glob(
        f"approx-tflite-runtime-2.14.0-*-v{approx_auto.CACHE_FORMAT}.json"))
    assert len(cache) == 1 and set(read_json(cache[0])["variants"]) == set(approximations.names())

    def no_measuring(*args, **kwargs):
        raise AssertionError("re-measured although the cache holds every variant")

    monkeypatch.setattr(approx_measure, "measure_all", no_measuring)
    assert approx_auto.choose("coral", None, Quiet()).chosen


@pytest.mark.slow
def test_damaged_cache_is_measured_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache_dir().mkdir(parents=True)
    runtime_file = approx_auto._cache_path("litert")
    runtime_file.write_text("{not json")
    measured = []
    real = approx_measure.measure_all

    def counting(names, *args, **kwargs):
        measured.extend(names)
        return real(names[:1], *args, **kwargs)

    monkeypatch.setattr(approx_measure, "measure_all", counting)
    monkeypatch.setattr(approximations, "names", lambda: ["lut"])
    assert approx_auto.choose("host", None, Quiet()).chosen == "lut"
    assert measured == ["lut"] and "lut" in read_json(runtime_file)["variants"]


@pytest.mark.slow
def test_a_changed_variant_is_measured_again_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    approx_auto.choose("rpi", None, Quiet())  # every variant cached
    real_fingerprint = approx_auto.fingerprint
    monkeypatch.setattr(approx_auto, "fingerprint",
                        lambda name: "changed" if name == "sigmoid" else real_fingerprint(name))
    measured: list[str] = []
    real = approx_measure.measure_all

    def counting(names, *args, **kwargs):
        measured.extend(names)
        return real(names, *args, **kwargs)

    monkeypatch.setattr(approx_measure, "measure_all", counting)
    approx_auto.choose("rpi", None, Quiet())
    assert measured == ["sigmoid"]
    cache = approx_auto._cache_path("litert")  # rpi's runtime
    assert read_json(cache)["variants"]["sigmoid"]["fingerprint"] == "changed"


def test_an_unwritable_cache_folder_warns_once_and_auto_still_chooses(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("")  # mkdir under a file fails, for root too
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))
    monkeypatch.setattr(approximations, "names", lambda: ["lut"])
    measured: list[str] = []

    def fake_measure(names, *args, **kwargs):
        measured.extend(names)
        return [SimpleNamespace(name=n, int8_max_lsb=1.0, int8_max_lsb_without_top_code=0.5,
                                int8_mean_lsb=0.1, ops={"GELU": 1},
                                accepted_by=targets.names()) for n in names]

    monkeypatch.setattr(approx_measure, "measure_all", fake_measure)
    monkeypatch.setattr(approx_auto, "_interleaved_latency",
                        lambda names, runtime, float_model=False: {n: 1.0 for n in names})
    monkeypatch.setattr(approx_measure, "float_runtime_error", lambda *args: (1e-7, 1e-8))
    reporter = Quiet()
    assert approx_auto.choose("host", None, reporter).chosen == "lut"
    assert approx_auto.choose("host", None, reporter).chosen == "lut"
    assert reporter.warnings == [f"cache folder {cache_dir()} not writable (Not a directory): "
                                 "measurements not kept (set XDG_CACHE_HOME to a folder you "
                                 "can write)"]
    assert measured == ["lut"]  # kept in memory for the rest of the run


@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
def test_a_gelu_run_in_float_is_chosen_by_its_float_figures(runtime: str) -> None:
    """A matmuls build runs GELU in float: every variant is a candidate, ranked by its float
    error on the runtime (measured, not the Python reference), among those fast enough there."""
    choice = approx_auto.choose("rpi", runtime, Quiet(), "float")
    assert choice.precision == "float" and choice.cost == "latency_ms"
    assert all(c.accepted and c.float_max_err is not None for c in choice.candidates)
    ok = [c for c in choice.candidates if c.cost_ok]
    best = min(ok, key=lambda c: (c.float_max_err, c.float_mean_err))
    assert best.name == choice.chosen and "in float" in choice.reason
    assert all(c.latency_ms == c.float_latency_ms for c in choice.candidates)
    # The lookup-table variant is the TFLite GELU op: in float it is exact GELU.
    lut = next(c for c in choice.candidates if c.name == "lut")
    assert lut.float_max_err < EXACT_FLOAT_GELU_MAX_ERR
