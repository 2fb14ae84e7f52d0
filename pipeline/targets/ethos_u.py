"""`ethos-u`: Arm Ethos-U NPU, checked by running the real Arm Vela compiler (ethos-u-vela, the
`vela` extra). `ethos-u:CONFIG` picks Vela's accelerator config (default ethos-u55-128)."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.errors import UserError
from pipeline.targets import rules
from pipeline.targets.base import CPU, SUPPORTED, Compat, OpVerdict, Target
from pipeline.tempdirs import temporary_directory
from pipeline.tflite.graph import Graph

DEFAULT_CONFIG = "ethos-u55-128"
CONFIGS = ("ethos-u55-32", "ethos-u55-64", "ethos-u55-128", "ethos-u55-256", "ethos-u65-256",
           "ethos-u65-512", "ethos-u85-128", "ethos-u85-256", "ethos-u85-512", "ethos-u85-1024",
           "ethos-u85-2048")
VELA_TIMEOUT_S = 600

_WARNING = re.compile(r"^Warning \(supported operators\) operator: (\w+), ofm: '(.*)'$")
_PLACED = re.compile(r"^\s*(CPU|NPU): (\w+) = (.*) \(outputs")
_COUNT = re.compile(r"^(CPU|NPU) operators = (\d+) \(([\d.]+)%\)")


def _vela() -> str:
    exe = shutil.which("vela") or str(Path(sys.executable).with_name("vela"))
    if not Path(exe).exists():
        raise UserError("target ethos-u needs Arm Vela: pip install 'gelu-edge[vela]' "
                        "(make install does this)")
    return exe


def run_vela(model: Path, config: str) -> dict[str, object]:
    """Compile with Vela; return its placement by output tensor name, CPU reasons and figures."""
    with temporary_directory("vela") as tmp:
        proc = subprocess.run([_vela(), str(model), "--accelerator-config", config,
                               "--output-dir", tmp, "--show-cpu-operations"],
                              capture_output=True, text=True, timeout=VELA_TIMEOUT_S)
        summary = next(Path(tmp).glob("*_summary_*.csv"), None)
        figures = {}
        if summary is not None:
            with summary.open(newline="") as f:
                row = next(csv.DictReader(f), {})
            figures = {k: row.get(k) for k in ("cycles_total", "cycles_npu", "inference_time")}
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        return {"failed": f"vela exited {proc.returncode}: {last}"}
    reasons: dict[str, str] = {}
    placed: dict[str, str] = {}
    counts: dict[str, tuple[int, float]] = {}
    lines = proc.stdout.splitlines()
    for i, line in enumerate(lines):
        if m := _WARNING.match(line):
            reason = " ".join(ln.strip() for ln in lines[i + 1:i + 3]
                              if ln.strip() and not ln.startswith("Warning"))
            reasons[m.group(2)] = reason.removeprefix("Reason: ")
        elif m := _PLACED.match(line):
            placed.setdefault(m.group(3), m.group(1))
        elif m := _COUNT.match(line):
            counts[m.group(1)] = (int(m.group(2)), float(m.group(3)))
    return {"reasons": reasons, "placed": placed, "counts": counts, "figures": figures}


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def make_checker(config: str):  # noqa: ANN201 (a Checker)
    """A checker that runs Vela for one accelerator config."""

    def check(model: Path, graph: Graph) -> Compat:
        result = run_vela(model, config)
        checks = [rules.full_integer(graph)]
        if "failed" in result:
            checks.append(rules.Rule("vela", False, str(result["failed"])))
            return Compat(target=f"ethos-u:{config}", method=f"vela {config}", ops=[], rules=checks)
        reasons, placed = result["reasons"], result["placed"]
        counts: dict[tuple[str, int], list[int]] = {}
        why: dict[tuple[str, int], str] = {}
        for op in graph.ops:
            out = graph.tensors[op.outputs[0]].name if op.outputs else ""
            on_cpu = out in reasons or placed.get(out) == "CPU"
            key = (op.name, op.version)
            counts.setdefault(key, [0, 0])[on_cpu] += 1
            if on_cpu:
                why.setdefault(key, reasons.get(out, "placed on the CPU by Vela"))
        verdicts = []
        for (name, version), (npu, cpu) in counts.items():
            if npu:
                verdicts.append(OpVerdict(name, version, npu, SUPPORTED, "NPU (Vela)"))
            if cpu:
                verdicts.append(OpVerdict(name, version, cpu, CPU,
                                          f"CPU (Vela): {why[(name, version)]}"))
        npu_ops, npu_pct = result["counts"].get("NPU", (0, 0.0))
        cpu_ops, _ = result["counts"].get("CPU", (0, 0.0))
        checks.append(rules.Rule("vela_npu_placement", cpu_ops == 0,
                                 f"Vela places {npu_ops} operators on the NPU ({npu_pct:.1f} %), "
                                 f"{cpu_ops} on the CPU"))
        figures = result["figures"]
        details = {"accelerator_config": config, "npu_operators": npu_ops,
                   "cpu_operators": cpu_ops, "npu_percent": npu_pct,
                   "cycles_total": _number(figures.get("cycles_total")),
                   "cycles_npu": _number(figures.get("cycles_npu")),
                   "inference_time_s": _number(figures.get("inference_time"))}
        return Compat(target=f"ethos-u:{config}" if config != DEFAULT_CONFIG else "ethos-u",
                      method=f"vela {config}", ops=verdicts, rules=checks, details=details)

    return check


def describe(compat: Compat) -> list[str]:
    """Vela's share of NPU operators and its cycle estimate."""
    d = compat.details
    if d.get("cycles_total") is None:
        return []
    return [f"Vela {d['accelerator_config']}: {d['npu_percent']:.1f} % NPU operators, "
            f"{d['cycles_total']:.0f} cycles per inference"]


def make_target(config: str = DEFAULT_CONFIG) -> Target:
    """The ethos-u target for a Vela accelerator config."""
    if config not in CONFIGS:
        raise UserError(f"unknown Ethos-U config {config!r}; choose one of: {', '.join(CONFIGS)}")
    return Target(
        name="ethos-u" if config == DEFAULT_CONFIG else f"ethos-u:{config}",
        summary=f"Arm Ethos-U NPU ({config}), checked with the real Vela compiler",
        runtime="tflite-runtime",
        machine="aarch64",
        default_quantize="int8",
        quantize_modes=("int8",),
        accelerator=True,
        rules=("full integer int8: float tensors and ops fall back to the CPU",
               "Vela's per-op placement decides: every op on the NPU, with its reasons and "
               "cycle estimate", "ethos-u:CONFIG picks the accelerator config "
               f"(default {DEFAULT_CONFIG}; {', '.join(CONFIGS)})"),
        checker=make_checker(config),
        details=describe,
    )


TARGETS = (make_target(),)
