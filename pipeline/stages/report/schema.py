"""parity.json's published JSON Schema (parity.schema.json beside this file), generated from the
record's types, so it cannot drift from what gelu-edge writes and reads.

Regenerate after changing `pipeline/records/parity.py`: `python -m pipeline.stages.report.schema`
(a test fails while the file differs from the types).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.records import ParityRecord

SCHEMA_PATH = Path(__file__).with_name("parity.schema.json")
SCHEMA_ID = "gelu-edge/parity.schema.json"


def generate() -> dict[str, Any]:
    """The schema of parity.json as gelu-edge writes it (computed fields included)."""
    schema = ParityRecord.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema, "title": "gelu-edge parity.json"}


def text() -> str:
    """The schema file's text."""
    return json.dumps(generate(), indent=2) + "\n"


def main() -> None:
    """Write parity.schema.json from the types."""
    SCHEMA_PATH.write_text(text(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
