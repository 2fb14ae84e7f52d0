"""Checks for CPU targets (a TFLite runtime on an Arm board or this machine): the model must load
on that runtime. Op versions are checked statically and, when the runtime is installed here, by
loading the model in a separate process and invoking it once."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.errors import UserError
from pipeline.targets import rules
from pipeline.targets.base import (
    SUPPORTED,
    UNSUPPORTED,
    Checker,
    Compat,
    OpVerdict,
    Target,
    group_ops,
)
from pipeline.tflite.graph import Graph

# How the runtimes name the op they could not register or prepare.
_UNKNOWN_OP = re.compile(r"builtin opcode '(\w+)' version '(\d+)'")
_FAILED_NODE = re.compile(r"\((\w+)\) failed to (?:prepare|invoke)")
_NODE_NUMBER = re.compile(r"Node number (\d+) \(\w+\) failed to (?:prepare|invoke)")


def runtime_failure_origin(graph: Graph, message: str) -> tuple[str, str] | None:
    """(op, layer) a runtime's error message names by node number, if it does."""
    match = _NODE_NUMBER.search(message)
    if not match or int(match.group(1)) >= len(graph.ops):
        return None
    op = graph.ops[int(match.group(1))]
    return op.name, graph.origin(op)


def _blame(verdicts: list[OpVerdict], message: str, graph: Graph) -> list[OpVerdict]:
    """Mark the op the runtime's error names as unsupported, with the runtime's words and the
    layer the op comes from."""
    origin = runtime_failure_origin(graph, message)
    if origin is not None:
        message = f"{message} (from layer {origin[1]})"
    match = _UNKNOWN_OP.search(message)
    if match:
        name, version = match.group(1), int(match.group(2))
        hit = lambda v: v.op == name and v.version == version  # noqa: E731
    else:
        match = _FAILED_NODE.search(message)
        if not match:
            return verdicts
        name = match.group(1)
        hit = lambda v: v.op == name  # noqa: E731
    return [OpVerdict(v.op, v.version, v.count, UNSUPPORTED, message) if hit(v) else v
            for v in verdicts]


def cpu_checker(target_name: str, runtime: str, runtime_version: str | None,
                tf_versioned: bool = True) -> Checker:
    """A checker for a CPU runtime. `runtime_version` None: the version installed here.
    `tf_versioned` False: the runtime's versions are not TensorFlow's (ai-edge-litert), so the
    converter's min_runtime_version cannot be compared and the real load decides."""

    def check(model: Path, graph: Graph) -> Compat:
        from pipeline.device import edge_client

        version, notes, installed = runtime_version, [], True
        try:
            about = edge_client.runtime_info(runtime)
        except UserError:
            installed = False
        else:
            if version is None:
                version = about["version"]
            elif about["version"] != version:
                installed = False
                notes.append(f"{runtime} {about['version']} is installed here, the target has "
                             f"{version}: the load test was skipped")
        version = version or "unknown"

        def verdict(op: str, op_version: int) -> tuple[str, str]:
            known = (rules.runtime_op_verdict(op, op_version, runtime, version)
                     if tf_versioned else None)
            return known or (SUPPORTED, f"registered by {runtime} {version}")

        verdicts = group_ops(graph, verdict)
        if tf_versioned:
            checks = [rules.min_runtime_version(graph, runtime, version)]
        else:
            checks = []
            notes.append(f"{runtime} {version} is not numbered like TensorFlow: the converter's "
                         "min_runtime_version does not apply; the real load decides")
        checks.append(rules.int8_rescale(graph, runtime))
        method = "static"
        if installed:
            load = rules.real_load(model, runtime)
            checks.append(load)
            method = f"loaded with {runtime} {version}"
            if not load.passed:
                verdicts = _blame(verdicts, load.message, graph)
            elif any(v.verdict != SUPPORTED for v in verdicts):
                # The real runtime is the authority: it loaded what the table doubted.
                verdicts = [OpVerdict(v.op, v.version, v.count, SUPPORTED, v.reason + " (but "
                                      "the real runtime loaded it)") for v in verdicts]
        else:
            notes.append(f"{runtime} is not installed here: op versions checked statically only")
        return Compat(target=target_name, method=method, ops=verdicts, rules=checks, notes=notes)

    return check


RULES = (
    "the model loads on the runtime: op codes and op versions it registers "
    "(the converter's min_runtime_version metadata, a per-op table, and a real load and invoke "
    "in a separate process when the runtime is installed here)",
    "any quantization mode the runtime runs; int8 is the default",
    "no int8 ADD/SUB with a degenerate output range (a branch the calibration never reached): "
    "the runtime's prepare aborts on one",
)
# A runtime not numbered like TensorFlow: only the real load can tell.
RULES_BY_LOAD = (
    "the model loads on the runtime: a real load and invoke in a separate process (its "
    "versions are not TensorFlow's, so the converter's min_runtime_version does not apply)",
    RULES[1],
    RULES[2],
)


def cpu_target(name: str, summary: str, runtime: str, machine: str,
               runtime_version: str | None = None, tf_versioned: bool = True) -> Target:
    """A CPU target: every quantization mode, int8 by default, checked by loading."""
    from pipeline.tflite import quantize_modes

    return Target(name=name, summary=summary, runtime=runtime, machine=machine,
                  default_quantize="int8", quantize_modes=tuple(quantize_modes.MODES),
                  accelerator=False, rules=RULES if tf_versioned else RULES_BY_LOAD,
                  checker=cpu_checker(name, runtime, runtime_version, tf_versioned))
