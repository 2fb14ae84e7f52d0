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
