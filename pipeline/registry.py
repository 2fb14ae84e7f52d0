"""The host's registries: edge.registry's, with unknown names a UserError (exit code 2)."""

from __future__ import annotations

from typing import TypeVar

from edge import registry
from pipeline.errors import UserError

T = TypeVar("T")


class Registry(registry.Registry[T]):
    """A registry whose unknown names are a UserError listing the choices."""

    error = UserError


__all__ = ["Registry"]
