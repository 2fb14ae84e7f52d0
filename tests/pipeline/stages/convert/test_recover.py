"""`--recover`'s search, on a judge whose verdict is a known function of the int8 layers, and
the layer units and multiply-accumulates it reads off a real calibrated model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.progress import Quiet
from pipeline.records import ConvertRecord, ParityRecord
from pipeline.stages.convert import recover

# A layer's damage, in dB of SNR lost when it runs in int8; the fake gate allows BUDGET_DB.
BUDGET_DB = 1.0
FLOAT_SNR_DB = 40.0
HARMLESS_DB = 0.1


class FakeJudge:
    """model(kept) encodes the float layers; measure() passes while the int8 layers' damage
    stays within the budget."""

    def __init__(self, damage: dict[str, float], reachable: bool = True) -> None:
        self.damage, self.reachable = damage, reachable
        self.x, self.runtime = np.zeros((4, 2), np.float32), "fake"
        self.measured = 0

    def model(self, kept: list[recover.Unit]) -> bytes:
        return json.dumps(sorted(u.scope for u in kept)).encode()

    def measure(self, data: bytes) -> recover.Trial:
        self.measured += 1
        kept = json.loads(data)
        lost = sum(d for s, d in self.damage.items() if s not in kept)
        return recover.Trial(passed=self.reachable and lost <= BUDGET_DB,
                             snr_db=FLOAT_SNR_DB - lost, figures=f"lost {lost:.1f}")


def _search(damage: dict[str, float], monkeypatch: pytest.MonkeyPatch, reachable: bool = True
            ) -> tuple[list[str], recover.Recovery, FakeJudge]:
    found = [recover.Unit(scope, (f"{scope}/out",), macs=100 if "ffn" in scope else 0)
             for scope in damage]
    monkeypatch.setattr(recover, "units", lambda graph: found)
    monkeypatch.setattr(recover, "_latency", lambda data, runtime: float(len(json.loads(data))))
    judge = FakeJudge(damage, reachable)
    data, record = recover.search(judge, None, Quiet())  # type: ignore[arg-type]
    return json.loads(data), record, judge


BLOCKS = {f"block_{i}/{part}": HARMLESS_DB for i in range(3) for part in ("ffn", "norm")}


def test_an_int8_model_that_passes_keeps_nothing_in_float(monkeypatch) -> None:
    kept, record, judge = _search(BLOCKS, monkeypatch)
    assert kept == [] and record.kept_float == [] and record.passed_on_decision
    assert judge.measured == 1 and [s.action for s in record.steps] == ["all int8"]


def test_one_damaging_layer_is_the_only_one_kept_in_float(monkeypatch) -> None:
    kept, record, _ = _search({**BLOCKS, "block_0/ffn": 5.0}, monkeypatch)
    assert kept == record.kept_float == ["block_0/ffn"]
    assert record.passed_on_decision and record.recovered_snr_db == FLOAT_SNR_DB - 5 * HARMLESS_DB
    assert record.int8_snr_db == FLOAT_SNR_DB - 5.0 - 5 * HARMLESS_DB
    assert record.float_mac_share == pytest.approx(1 / 3)
    assert record.recovered_figures == "lost 0.5" and record.int8_ms == 0.0
    assert record.recovered_ms == 1.0 and record.float_ms == len(BLOCKS)  # fake: ms = float layers


def test_layers_that_only_fail_together_are_found(monkeypatch) -> None:
    """No single kind breaks the gate, but all of them in int8 do: the walk back from float
    keeps the fewest layers that fit the budget (what a forward search cannot find)."""
    damage = {f"block_{i}/{part}": 0.3 for i in range(3) for part in ("ffn", "norm")}
    kept, record, _ = _search(damage, monkeypatch)
    assert record.passed_on_decision and len(kept) == 3  # 3 x 0.3 dB is within 1 dB
    assert sum(damage[s] for s in damage if s not in kept) <= BUDGET_DB


def test_a_gate_that_even_float_misses_leaves_the_model_int8(monkeypatch) -> None:
    kept, record, judge = _search({**BLOCKS, "block_0/ffn": 5.0}, monkeypatch, reachable=False)
    assert kept == [] and record.kept_float == [] and not record.passed_on_decision
    assert [s.action for s in record.steps] == ["all int8", "all float"]


def test_a_model_the_runtime_cannot_run_is_a_failed_trial_not_a_crash(monkeypatch) -> None:
    from pipeline.errors import CheckFailed

    def cannot(path, x, runtime, reporter):
        raise CheckFailed("tflite-runtime 2.14.0 cannot run m.tflite: Div only supports ...")

    monkeypatch.setattr(recover.edge_client, "run", cannot)
    judge = recover.Judge(calibrated=None, mode="int8", ranges={}, x=np.zeros((2, 2)),
                          reference=[np.zeros((2, 2))], thresholds=recover.Thresholds(),
                          names=["y"], agreement=None, runtime="tflite-runtime")
    trial = judge.measure(b"model")
    assert not trial.passed and trial.snr_db is None and "Div only supports" in trial.figures


def test_units_and_their_multiply_accumulates_come_from_the_calibrated_graph() -> None:
    from pipeline.tfenv import keras
    from pipeline.tflite import graph as tflite_graph
    from pipeline.tflite.converter import full_integer

    k = keras()
    inp = k.Input((8,))
    hidden = k.layers.Dense(16, activation="relu", name="ffn_in")(inp)
    model = k.Model(inp, k.layers.Dense(4, name="ffn_out")(hidden))
    calib = np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32)
    _, calibrated, _, _ = full_integer(model, "int8", calib, 1, "minmax", Quiet())
    found = recover.units(tflite_graph.parse(calibrated.data))
    # The last op's output is the model's output tensor, named after the signature.
    assert [u.scope.split("/")[-1] for u in found] == ["ffn_in", "Identity"]
    assert [u.macs for u in found] == [8 * 16, 16 * 4] and all(u.nodes for u in found)


# The end-to-end model: one outlier channel (x OUTLIER) stretches the first hidden tensor's int8
# range, so all-int8 misses GATE_SNR_DB by far and the two hidden layers must stay float.
OUTLIER = 60.0
GATE_SNR_DB = 30.0


def _outlier_model(folder: Path) -> tuple[Path, Path]:
    from pipeline.tfenv import keras

    k = keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    inp = k.Input((8,), name="x")
    hidden = k.layers.Dense(32, activation="gelu", name="up")(inp)
    hidden = k.layers.Dense(32, activation="gelu", name="mid")(hidden)
    model = k.Model(inp, k.layers.Dense(1, name="down")(hidden))
    for name, scale in (("up", OUTLIER), ("mid", 1 / OUTLIER)):
        w, b = model.get_layer(name).get_weights()
        if name == "up":
            w[:, 0] *= scale
        else:
            w[0, :] *= scale  # the float function is unchanged in shape, only the range moves
        model.get_layer(name).set_weights([w, b])
    model.save(folder / "m.keras")
    np.savez(folder / "d.npz", x=x, y=model.predict(x, verbose=0))
    return folder / "m.keras", folder / "d.npz"


@pytest.mark.slow
def test_recover_keeps_the_outlier_layers_in_float_until_the_gate_passes(cli, tmp_path) -> None:
    model, data = _outlier_model(tmp_path)
    result = cli("build", "--model", model, "--data", data, "--min-snr-db", GATE_SNR_DB,
                 "--out", tmp_path / "recovered", "--recover")
    assert result.code == 0, result.out + result.err
    converted = ConvertRecord.load(tmp_path / "recovered")
    recovery = converted.recovery
    island = next(c for c in converted.checks if c.name == "no_float_island")
    assert island.severity == "warning" and "kept in float by --recover" in island.message
    assert recovery.float_ms is not None
    assert [s.split("/")[-1] for s in recovery.kept_float] == ["up", "mid"]
    # All int8 misses the gate by far (the search's first measurement); recovered, it passes.
    assert recovery.passed_on_decision and recovery.int8_snr_db < GATE_SNR_DB - 10
    assert recovery.steps[0].action == "all int8" and not recovery.steps[0].passed
    assert recovery.recovered_snr_db >= GATE_SNR_DB and 0.9 < recovery.float_mac_share < 1.0
    parity = ParityRecord.load(tmp_path / "recovered")
    assert parity.passed and parity.first.metrics.snr_db >= GATE_SNR_DB
    report = (tmp_path / "recovered" / "parity.md").read_text()
    assert "## Recovery" in report and "`--recover` keeps 2 layer(s) in float" in report


def test_the_walk_takes_the_most_macs_per_db_first() -> None:
    """Two kinds that each pass alone but not together: the one with more MACs per dB of
    damage goes to int8, so the float share of MACs is the smaller one."""
    kinds = {"block_*/ffn": [recover.Unit("block_0/ffn", ("a",), macs=1000)],
             "block_*/attn": [recover.Unit("block_0/attn", ("b",), macs=10)],
             "block_*/norm": [recover.Unit("block_0/norm", ("c",), macs=0)]}
    floated = recover.Trial(True, FLOAT_SNR_DB, "")
    alone = {"block_*/ffn": recover.Trial(True, FLOAT_SNR_DB - 0.8, ""),   # 1250 MACs / dB
             "block_*/attn": recover.Trial(True, FLOAT_SNR_DB - 0.1, ""),  # 100 MACs / dB
             "block_*/norm": recover.Trial(True, FLOAT_SNR_DB - 0.01, "")}
    assert recover._order(kinds, alone, floated) == ["block_*/ffn", "block_*/attn",
                                                     "block_*/norm"]


def test_the_walk_stops_at_its_time_budget(monkeypatch) -> None:
    """Past the budget no more layers go to int8: what is left stays float (the gate still
    passes: the walk starts from all float)."""
    damage = {f"block_{i}/ffn": HARMLESS_DB for i in range(3)} | {"block_0/norm": 2 * BUDGET_DB}
    found = [recover.Unit(scope, (f"{scope}/out",), macs=100) for scope in damage]
    judge = FakeJudge(damage)
    seen: dict[frozenset[str], recover.Trial] = {}

    def trial(action: str, int8: list[recover.Unit], data: bytes | None = None
              ) -> recover.Trial:
        key = frozenset(u.scope for u in int8)
        if key not in seen:
            seen[key] = judge.measure(judge.model([u for u in found if u not in int8]))
        return seen[key]

    floated = trial("all float", [])
    int8, final = recover._walk(found, trial, Quiet(), floated, deadline=0.0)
    assert int8 == [] and final.passed
    int8, final = recover._walk(found, trial, Quiet(), floated, deadline=float("inf"))
    assert {u.scope for u in int8} == {f"block_{i}/ffn" for i in range(3)} and final.passed


class Clock:
    """time.monotonic() for recover: each measurement the judge makes takes TRIAL_S."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TRIAL_S = 10.0


def test_the_whole_search_keeps_within_its_budget(monkeypatch) -> None:
    """The budget covers the search from its start to the last latency: the walk stops early
    enough for the finishing steps, kinds it could not measure stay float, and the record says
    what the search took."""
    clock = Clock()
    monkeypatch.setattr(recover.time, "monotonic", clock)
    damage = {f"block_{i}/ffn": 0.1 for i in range(3)} | {f"block_{i}/norm": 0.3 for i in range(3)}
    found = [recover.Unit(scope, (f"{scope}/out",), macs=100) for scope in damage]
    monkeypatch.setattr(recover, "units", lambda graph: found)
    monkeypatch.setattr(recover, "_latency", lambda data, runtime: 1.0)
    judge = FakeJudge(damage)
    measure = judge.measure

    def slow(data: bytes) -> recover.Trial:
        clock.now += TRIAL_S
        return measure(data)

    judge.measure = slow  # type: ignore[method-assign]
    # All int8, all float, two kinds' sensitivity, one step of the walk (the feed-forward kind
    # is its own sensitivity trial, the whole norm kind beside it is the all-int8 one: block_2's
    # norm is measured); the next would start past the budget less the two trials' time the
    # last trial and the finish may need.
    budget_s = 6.5 * TRIAL_S
    _, record = recover.search(judge, None, Quiet(), budget_s=budget_s)  # type: ignore[arg-type]
    assert record.budget_s == budget_s and record.search_s == 5 * TRIAL_S <= budget_s
    assert judge.measured == 5 and record.passed_on_decision
    assert record.kept_float == ["block_0/norm", "block_1/norm"]
    unlimited = FakeJudge(damage)
    _, free = recover.search(unlimited, None, Quiet(), budget_s=1e9)  # type: ignore[arg-type]
    assert unlimited.measured > judge.measured and free.kept_float == ["block_0/norm"]
