"""parity.json's JSON Schema (parity.schema.json beside this file), checked with jsonschema."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.errors import UserError

SCHEMA_PATH = Path(__file__).with_name("parity.schema.json")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The schema document."""
    return json.loads(SCHEMA_PATH.read_text())


def errors(parity: dict[str, Any]) -> list[str]:
    """Every schema violation, as 'path: message'."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(parity), key=lambda e: list(e.absolute_path))]


def check(parity: dict[str, Any], source: Path) -> None:
    """UserError naming the first violation, with what to do."""
    found = errors(parity)
    if found:
        raise UserError(f"{source} does not match parity.schema.json ({found[0]}; "
                        f"{len(found)} problem(s)); it was written by another version of "
                        "gelu-edge: rerun `gelu-edge parity` to rewrite it")
