"""Registry of presets (`--preset`): models gelu-edge builds and trains itself, with their data."""

from __future__ import annotations

from pipeline.presets import demo, transformer
from pipeline.presets.base import Preset
from pipeline.registry import Registry

PRESETS: Registry[Preset] = Registry.of("preset", (m.PRESET for m in (demo, transformer)))
DEFAULT = demo.PRESET.name
get = PRESETS.get  # unknown names are a UserError listing the choices
names = PRESETS.names

__all__ = ["Preset", "PRESETS", "DEFAULT", "get", "names"]
