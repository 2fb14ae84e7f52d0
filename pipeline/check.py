"""`gelu-edge check`: is a .tflite model compatible with a target? Per-op verdicts and rules."""

from __future__ import annotations

from pathlib import Path

from pipeline import targets
from pipeline.targets.base import Compat
from pipeline.tflite import graph as tflite_graph


def check_model(model: Path, target_name: str, runtime: str | None = None) -> Compat:
    """Parse the model (UserError if it is not a TFLite flatbuffer) and run the target's check
    (with `runtime`: the target as that runtime's users have it)."""
    target = targets.get(target_name, runtime)
    graph = tflite_graph.read(model)
    return target.check(Path(model), graph)


def render(compat: Compat) -> str:
    """A plain-text table: op, version, count, verdict, reason; then rules, notes, summary."""
    rows = [("op", "count", "verdict", "reason")]
    rows += [(f"{v.op} v{v.version}", str(v.count), v.verdict, v.reason) for v in compat.ops]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], width)) + "  " + r[3] for r in rows]
    lines.append("")
    lines += [f"{'ok  ' if r.passed else 'FAIL'} {r.name}: {r.message}" for r in compat.rules]
    lines += targets.describe_details(compat)
    lines += [f"note: {n}" for n in compat.notes]
    lines.append(compat.summary)
    return "\n".join(lines)


def against_compiler_log(path: Path, log_path: Path) -> list:
    """`--compiler-log`: edgetpu_compiler's log of a model, or of a chain's Edge TPU segments
    (PATH is segments.json), matched against the static verdicts; one finding per model."""
    from pipeline import artifacts
    from pipeline.errors import UserError
    from pipeline.targets import coral_log

    try:
        compiled = {c.model: c for c in coral_log.parse(log_path.read_text(errors="replace"))}
    except OSError as exc:
        raise UserError(f"cannot read the compiler log {log_path}: {exc.strerror}") from None
    if path.suffix == ".json":
        from pipeline.records.segments import SegmentChain

        try:
            chain = SegmentChain.model_validate(artifacts.read_json(path))
        except Exception:  # any damage or another file: one line
            raise UserError(f"{path} is not a segments.json gelu-edge wrote") from None
        models = [(path.parent / s.file, s.cached) for s in chain.segments
                  if s.side == "accelerator"]
    else:
        models = [(path, None)]
    findings = []
    for model, cached in models:
        if model.name not in compiled:
            raise UserError(f"the compiler log has no block for {model.name} (it has "
                            f"{', '.join(sorted(compiled)) or 'none'}): compile the files "
                            "the report's command names and bring back what it printed")
        findings.append(coral_log.match(tflite_graph.read(model), str(model),
                                        compiled[model.name], cached))
    return findings
