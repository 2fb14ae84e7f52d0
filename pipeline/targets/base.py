"""What a deployment target says about the build: its runtime and what it expects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A device class a model is built for."""

    name: str
    summary: str
    runtime: str  # the edge runtime that parity runs on by default
    machine: str  # the device's CPU architecture
    default_quantize: str
    # Builtin ops the device can run; None means every op the runtime registers.
    allowed_ops: frozenset[str] | None = None

    def accepts_ops(self, ops: set[str] | frozenset[str]) -> bool:
        """True when every op is one the target can run."""
        return self.allowed_ops is None or set(ops) <= self.allowed_ops

    def rejected_ops(self, ops: set[str] | frozenset[str]) -> list[str]:
        """The ops the target cannot run, sorted."""
        return [] if self.allowed_ops is None else sorted(set(ops) - self.allowed_ops)
