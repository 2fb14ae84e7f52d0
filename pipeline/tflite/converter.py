"""The one converter path: a Keras model to TFLite bytes (a frozen concrete function with a
fixed batch, TFLiteConverter for every mode), and for full-integer modes calibrate-once then
quantize with the ranges `--calibration-method` chooses (`pipeline.tflite.calibrate`). The
convert stage, `--recover` and `--sensitivity` all convert through here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.runner import runtime_words
from pipeline.device import edge_client
from pipeline.errors import CheckFailed, UserError
from pipeline.gate import metrics
from pipeline.inputs import batch as batches
from pipeline.inputs.signature import Signature, describe
from pipeline.progress import Quiet, Reporter
from pipeline.records import IOTensor
from pipeline.records.convert import Calibration, MethodTrial, RangeChange
from pipeline.tempdirs import temporary_directory
from pipeline.tfenv import captured_native_output, tensorflow
from pipeline.tflite import calibrate, quantize_modes, ranges
from pipeline.tflite import graph as tflite_graph

DEFAULT_BATCH = 1
# auto: this share of the calibration samples (at least AUTO_MIN_HELD_BACK) is kept aside to
# compare the methods on; the rest calibrates.
AUTO_HELD_BACK_SHARE = 0.2
AUTO_MIN_HELD_BACK = 16
HISTOGRAM_BINS = 2048  # resolution of each tensor's histogram over its recorded range
RANGES_REPORTED = 12  # the tensors whose range moved most, in convert.json and the report
STATS_RUNTIME = "litert"  # this machine's runtime for the statistics, not the target's


def io_tensors(graph: tflite_graph.Graph, signature: Signature) -> tuple[list[IOTensor],
                                                                         list[IOTensor]]:
    """The converted model's inputs and outputs, named as the Keras model names them."""
    def one(index: int, name: str) -> IOTensor:
        t = graph.tensors[index]
        return IOTensor(name=name, dtype=t.dtype, shape=list(t.shape),
                        scale=t.scale or None, zero_point=t.zero_point if t.scale else None)

    return ([one(i, n) for i, n in zip(graph.inputs, signature.input_names)],
            [one(i, n) for i, n in zip(graph.outputs, signature.output_names)])


def input_specs(signature: Signature, sample_shapes: list[tuple[int, ...]], batch: int
                ) -> list[Any]:
    """One TensorSpec per model input: its own dtype (integer inputs stay integer), the batch
    fixed, and dimensions the model leaves open taken from the data."""
    tf = tensorflow()
    return [tf.TensorSpec([batch, *shape], tf.as_dtype(info.dtype), name=info.name)
            for info, shape in zip(signature.inputs, sample_shapes)]


def open_dimensions(signature: Signature, sample_shapes: list[tuple[int, ...]]) -> list[str]:
    """'input: (None, 64) -> (64,)' for each input whose open dimensions the data fixes."""
    return [f"{info.name} {tuple(info.sample_shape)} -> {tuple(shape)}"
            for info, shape in zip(signature.inputs, sample_shapes)
            if None in info.sample_shape]


def concrete_function(model: Any, signature: Signature, sample_shapes: list[tuple[int, ...]],
                      batch: int) -> Any:
    """The model as a frozen TF concrete function with a fixed batch (what the converter takes);
    it returns the model's outputs flat, in the signature's order."""
    tf = tensorflow()
    from keras import tree
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    specs = input_specs(signature, sample_shapes, batch)
    # TFLite keeps this argument order (and the names) for the model's inputs, and the order
    # of the returned list for its outputs.
    fn = tf.function(lambda *xs: tree.flatten(model(signature.structure(list(xs)),
                                                    training=False))).get_concrete_function(*specs)
    # Freezing keeps variables out of the TFLite graph (no READ_VARIABLE during calibration).
    return convert_variables_to_constants_v2(fn)


def convert_model(model: Any, mode_name: str, calib_x: batches.Inputs, batch: int,
                  reporter: Reporter, calibrate_only: bool = False) -> bytes:
    """Convert a Keras model to TFLite bytes with the given quantization mode; with
    `calibrate_only`, the calibrated float model (pipeline.tflite.calibrate)."""
    tf = tensorflow()
    mode = quantize_modes.get(mode_name)
    signature = describe(model)
    integer = [i.name for i in signature.inputs if i.is_integer]
    if mode_name == "int16x8" and integer and not calibrate_only:
        # TensorFlow's 16x8 quantizer asks every input for a float range and stops with
        # "Empty min/max for tensor <input>" after calibrating: ai-edge-quantizer does it.
        reporter.info(f"int16x8 with integer inputs ({', '.join(integer)}): through "
                      "ai-edge-quantizer's static_wi8_ai16 recipe (TensorFlow's 16x8 quantizer "
                      "needs a float range for every input)")
        return int16x8_by_quantizer(model, calib_x, batch, reporter)
    arrays = batches.as_list(calib_x)
    shapes = batches.sample_shapes(calib_x)
    for fixed in open_dimensions(signature, shapes):
        reporter.info(f"input {fixed}: the model leaves these dimensions open; converting with "
                      "the data's (TFLite needs fixed shapes)")
    with reporter.phase("tracing the model"):
        fn = concrete_function(model, signature, shapes, batch)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    n = (len(arrays[0]) // batch) * batch
    if mode.needs_calibration and n == 0:
        raise UserError(f"calibration needs at least {batch} samples; x_calib has "
                        f"{len(arrays[0])}")
    dtypes = [info.dtype for info in signature.inputs]

    def representative() -> Any:
        with reporter.task("calibrating", n // batch) as advance:
            for i in range(0, n, batch):
                yield [a[i:i + batch].astype(d, copy=False) for a, d in zip(arrays, dtypes)]
                advance(1)

    mode.configure(converter, tf, representative)
    converter._experimental_calibrate_only = calibrate_only
    with captured_native_output() as log, reporter.phase(f"TFLite converter ({mode_name})"):
        try:
            return converter.convert()
        except Exception as exc:
            error = exc
    detail = next((ln for ln in reversed(log) if "error" in ln.lower()), "")
    first = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    first = runtime_words(first)
    if "gather index out of bounds" in first:  # the calibrator invoked a lookup on the samples
        raise UserError(f"TFLite conversion with --quantize {mode_name}: calibrating on the "
                        f"samples failed: {first} A calibration sample holds an index beyond "
                        "the table it looks up (a token id outside the vocabulary?); give ids "
                        "inside the model's tables")
    raise CheckFailed(
        f"TFLite conversion with --quantize {mode_name} failed: {first} {detail}".strip())


def _held_back(calib_x: batches.Inputs) -> tuple[batches.Inputs, batches.Inputs]:
    """(samples to calibrate on, samples auto compares the methods on)."""
    n = batches.count(calib_x)
    cut = max(1, n - max(AUTO_MIN_HELD_BACK, int(n * AUTO_HELD_BACK_SHARE)))
    return batches.take(calib_x, slice(0, cut)), batches.take(calib_x, slice(cut, None))


def _changes(calibrated: calibrate.Calibrated, chosen: dict[int, tuple[float, float]]
             ) -> list[RangeChange]:
    """The tensors whose range moved most (as a share of the recorded span)."""
    moved = []
    for index, (lo, hi) in chosen.items():
        r_lo, r_hi = calibrated.ranges[index]
        shift = (abs(lo - r_lo) + abs(hi - r_hi)) / max(r_hi - r_lo, 1e-12)
        if shift > 0:
            moved.append((shift, index, (lo, hi)))
    moved.sort(reverse=True)
    names = calibrated.names
    return [RangeChange(tensor=names.get(i, str(i)).split(";")[-1],
                        layer=tflite_graph.layer_scope(names.get(i, "")),
                        recorded=calibrated.ranges[i], chosen=r)
            for _, i, r in moved[:RANGES_REPORTED]]


def held_back_snr(data: bytes, x: batches.Inputs, reference: list[Any], runtime: str
                  ) -> float | None:
    """The worst output SNR of a quantized model against float outputs, run where it is cheap."""
    with temporary_directory("auto") as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(data)
        arrays, _ = edge_client.run(path, x, runtime, Quiet())
    return metrics.worst_snr_db(reference, [arrays[f"y{i}"] for i in range(len(reference))])


RANGE_SAMPLES = 128  # ai-edge-quantizer's ranges: min/max over this many samples


def activation_ranges(float_model: bytes, calib_x: batches.Inputs, reporter: Reporter
                      ) -> dict[str, tuple[float, float]]:
    """Each float activation tensor's min/max over the first RANGE_SAMPLES
    calibration samples (on this machine's LiteRT), by tensor name: the ranges
    ai-edge-quantizer's static recipes take."""
    from pipeline.tflite import tensors

    graph = tflite_graph.parse(float_model, "float model")
    found = [i for i, t in enumerate(graph.tensors)
             if t.dtype == "FLOAT32" and not graph.is_constant(i)]
    count = min(RANGE_SAMPLES, batches.count(calib_x))
    with reporter.task("activation ranges", count) as advance, captured_native_output():
        lo, hi = tensors.min_max(float_model, calib_x, found, count, advance)
    return {graph.tensors[i].name: (lo[i], hi[i]) for i in found if lo[i] <= hi[i]}


def int16x8_by_quantizer(model: Any, calib_x: batches.Inputs, batch: int,
                         reporter: Reporter) -> bytes:
    """int16 activations and int8 weights for every op, by ai-edge-quantizer's static_wi8_ai16
    recipe on the float TFLite model, with activation_ranges. Integer inputs stay integer; the
    same model and samples give the same bytes."""
    from ai_edge_quantizer import recipe

    from pipeline.tflite import hybrid

    float_model = convert_model(model, "none", calib_x, batch, reporter)
    ranges = activation_ranges(float_model, calib_x, reporter)
    with reporter.phase("ai-edge-quantizer (static_wi8_ai16)"):
        return hybrid.quantize(float_model, recipe.static_wi8_ai16(), ranges)


def full_integer(model: Any, mode: str, calib_x: batches.Inputs, batch: int, spec: str,
                 reporter: Reporter) -> tuple[bytes, calibrate.Calibrated, Calibration,
                                              dict[int, tuple[float, float]]]:
    """An int8 (or uint8) model through calibrate-only and the MLIR quantizer, with the ranges
    --calibration-method chooses: (model bytes, the calibrated model, how it was calibrated,
    the ranges it set)."""
    method, parameter = ranges.parse(spec)
    auto = method is None
    calib, held = _held_back(calib_x) if auto else (calib_x, None)
    calibrated = calibrate.Calibrated.read(convert_model(model, mode, calib, batch, reporter,
                                                         calibrate_only=True))
    candidates = list(ranges.METHODS.values()) if auto else [method]
    # The model's outputs keep their min/max: they are what the user reads, and clipping them
    # saturates exactly the largest values (a logit's winner, an embedding's strongest
    # dimensions).
    outputs = set(tflite_graph.parse(calibrated.data, "calibrated model").outputs)
    histograms: dict[int, Any] = {}
    if any(m.needs_histograms for m in candidates):
        with temporary_directory("calibrated") as tmp:
            path = Path(tmp) / "calibrated.tflite"
            path.write_bytes(calibrated.data)
            histograms = edge_client.histograms(
                path, calib, STATS_RUNTIME,
                {i: r for i, r in calibrated.ranges.items() if r[1] > r[0] and i not in outputs},
                HISTOGRAM_BINS, reporter)
    reference = describe(model).predict(model, held) if auto else None
    trials: list[MethodTrial] = []
    best: tuple[float, str, bytes, dict[int, tuple[float, float]]] | None = None
    for candidate in candidates:
        p = candidate.default_parameter if auto else parameter
        chosen = (calibrate.histogram_ranges(calibrated, histograms, candidate.pick, p)
                  if candidate.needs_histograms else {})
        data = calibrate.quantize(calibrated, mode, chosen)
        label = candidate.name + (f":{p:g}" if p is not None else "")
        score = held_back_snr(data, held, reference, STATS_RUNTIME) if auto else None
        if auto:
            trials.append(MethodTrial(method=label, snr_db=score))
            reporter.info(f"calibration method {label}: "
                          f"{'identical' if score is None else f'{score:.2f} dB'} on "
                          f"{batches.count(held)} held-back samples")
        rank = float("inf") if score is None else score
        if best is None or rank > best[0]:
            best = (rank, label, data, chosen)
    assert best is not None
    _, label, data, chosen = best
    return data, calibrated, Calibration(
        requested=spec, method=label, held_back=batches.count(held) if held is not None else 0,
        trials=trials, changed=_changes(calibrated, chosen), tensors=len(chosen)), chosen
