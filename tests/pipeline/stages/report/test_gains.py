"""The report's "What int8 buys": the advice when the int8 model is slower than float on
tflite-runtime 2.14, and how file sizes compare."""

from __future__ import annotations

from types import SimpleNamespace

from pipeline.records.parity import Gains, Latency
from pipeline.stages.report import gains


def _record(runtime: str, quantized_ms: float, float_ms: float) -> SimpleNamespace:
    def lat(ms: float) -> Latency:
        return Latency(median_ms=ms, min_ms=ms, repeats=5, threads=1)
    return SimpleNamespace(gains=Gains(runtime=runtime, quantized_latency=lat(quantized_ms),
                                       float_latency=lat(float_ms)))


def test_slower_than_float_on_tflite_runtime_names_litert() -> None:
    advice = gains.slower_than_float(_record("tflite-runtime 2.14.0", 34.1, 24.3))
    assert advice is not None and "1.40x" in advice and "LiteRT" in advice


def test_no_advice_when_faster_or_on_litert() -> None:
    assert gains.slower_than_float(_record("tflite-runtime 2.14.0", 10.0, 24.3)) is None
    assert gains.slower_than_float(_record("litert 2.3.0", 34.1, 24.3)) is None


def test_file_sizes_within_five_percent_read_as_the_same_size() -> None:
    assert gains._size_ratio(4.1) == "4.1x smaller"
    assert gains._size_ratio(1 / 1.02) == "about the same size"  # was "1.0x larger"
    assert gains._size_ratio(1.04) == "about the same size"
    assert gains._size_ratio(1 / 1.3) == "1.3x larger"
