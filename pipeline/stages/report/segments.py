"""The report's "Edge TPU segments" section: a coral build's chain (segments.json), each segment
with its ops, multiply-accumulates and parameters, what crosses between host and Edge TPU, the
on-chip cache verdict and the estimate (labelled as one: the compiler cannot run here)."""

from __future__ import annotations

from pipeline.records import ParityRecord
from pipeline.stages.report.blocks import Block

MIB = 1024 * 1024


def _mib(n: int) -> str:
    return f"{n / MIB:.2f} MiB"


def blocks(p: ParityRecord) -> list[Block]:
    """The section, or nothing when the build made no chain."""
    chain = p.segments
    if chain is None:
        return []
    tpu = [s for s in chain.segments if s.side == "accelerator"]
    check = chain.chain_check
    same = ("" if check is None else
            f" Run in turn on {check.runtime}"
            + ("" if check.where == "local" else f" on {check.where}")
            + f" ({check.samples} samples), the segments give "
            + ("exactly model.tflite's output codes"
               + (", on every evaluation sample: the figures above are the chain's."
                  if check.samples == p.samples else ".") if check.equal else
               f"outputs that differ from model.tflite's by up to {check.max_code_diff:g} "
               "codes: a defect, please report it."))
    streamed = [s.file for s in tpu if not s.cached]
    cache = (f"Their parameters ({_mib(chain.accelerator_parameter_bytes)}) fit the "
             f"{_mib(chain.cache_bytes)} of on-chip memory when co-compiled."
             if not streamed else
             f"Their parameters ({_mib(chain.accelerator_parameter_bytes)}) do not fit the "
             f"{_mib(chain.cache_bytes)} of on-chip memory: co-compiled, the first segments' "
             f"parameters are cached and {len(streamed)} segment(s) "
             f"({_mib(chain.streamed_bytes)}, from {streamed[0]} on) stream theirs from the "
             "host every inference.")
    text = (f"The Edge TPU compiler maps one subgraph and stops at the first op it cannot run, "
            f"so model.tflite is cut into {len(chain.segments)} segments (`segments/`, "
            f"`segments.json`): {len(tpu)} of Edge TPU ops, "
            f"{100 * chain.accelerator_mac_share:.1f} % of the multiply-accumulates, and the "
            f"host's in between." + same + " " + cache
            + f" Per inference {chain.transfer_bytes:,} bytes of activations cross between host "
            f"and Edge TPU. Estimate: {chain.estimate_ms:.3g} ms on the Edge TPU "
            f"({chain.estimate_basis}). These verdicts are static, from the Edge TPU's op table "
            "and rules: edgetpu_compiler cannot run here.")
    rows = [[s.file, s.side, ", ".join(f"{k} x{v}" for k, v in s.ops.items()), s.macs,
             s.parameter_bytes, "—" if s.cached is None else s.cached,
             s.check if s.side == "accelerator" else
             "; ".join(f"{op}: {why}" for op, why in s.host_reasons.items()) or "no Edge TPU "
             "work worth a transfer"] for s in chain.segments]
    found = [Block("h2", "Edge TPU segments"), Block("p", text),
             Block("table", header=["segment", "runs on", "ops", "MACs", "parameter bytes",
                                    "cached on chip", "static check / why on the host"],
                   rows=rows)]
    if chain.compile_command:
        found.append(Block("p", "With edgetpu_compiler (Linux x86-64, from Coral's own "
                                f"packages), in the build folder: `{chain.compile_command}`; "
                                "on the device, `python -m edge chain --manifest segments.json "
                                "--compiled edgetpu --delegate libedgetpu.so.1 --input X.npy "
                                "--output Y.npz` runs the compiled Edge TPU segments with the "
                                "host ones in between."))
    return found
