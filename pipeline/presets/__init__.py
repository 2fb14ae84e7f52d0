"""Registry of presets (`--preset`): models gelu-edge builds and trains itself, with their data."""

from __future__ import annotations

from pipeline.errors import UserError
from pipeline.presets import demo, transformer
from pipeline.presets.base import Preset

PRESETS: dict[str, Preset] = {m.PRESET.name: m.PRESET for m in (demo, transformer)}
DEFAULT = demo.PRESET.name


def get(name: str) -> Preset:
    """Look up a preset; unknown names are a UserError listing the choices."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


__all__ = ["Preset", "PRESETS", "DEFAULT", "get"]
