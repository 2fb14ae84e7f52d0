"""The host's registries raise UserError (exit code 2), and every kind uses the one helper."""

from __future__ import annotations

import pytest

from edge import registry as edge_registry
from pipeline.errors import UserError
from pipeline.registry import Registry


def test_unknown_name_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"unknown target 'x'; choose one of: a, b$"):
        Registry("target", [("a", 1), ("b", 2)]).get("x")


def test_every_kind_is_a_registry() -> None:
    from edge.runtimes import RUNTIMES
    from pipeline.approximations import REGISTRY
    from pipeline.device.places import KINDS
    from pipeline.gate.metrics import METRICS
    from pipeline.presets import PRESETS
    from pipeline.rewrites import REWRITES
    from pipeline.targets import TARGETS
    from pipeline.tasks import TASKS
    from pipeline.tflite.quantize_modes import MODES
    from pipeline.tflite.ranges import METHODS

    kinds = [REGISTRY, REWRITES, TARGETS, PRESETS, TASKS, METHODS, MODES, RUNTIMES, METRICS,
             KINDS]
    assert all(isinstance(k, edge_registry.Registry) and len(k) for k in kinds)
    assert all(isinstance(k, Registry) for k in kinds if k is not RUNTIMES)
