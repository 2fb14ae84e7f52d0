"""The `gelu-edge` command group; the commands register themselves on it."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gelu-edge")
def cli() -> None:
    """Ship GELU models to a Raspberry Pi or Coral in int8, and know they still give the right
    answers.

    \b
    Examples:
      gelu-edge build --quantize int8
      gelu-edge build --target coral --out build-coral
      gelu-edge build --model my.keras --data my.npz --on emulated-pi
      gelu-edge check build/model.tflite --target ethos-u
      gelu-edge report build && gelu-edge diff build-main build
    """


