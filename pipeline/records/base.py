"""What every record between stages is: a frozen pydantic model that saves to and loads from its
own JSON file in a build folder, and whose JSON schema is generated from its types."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from pipeline import artifacts
from pipeline.errors import UserError

R = TypeVar("R", bound="Record")


class Model(BaseModel):
    """A typed piece of a record: immutable, and strict about unknown keys. Computed fields
    (properties written to JSON for its readers) are recomputed on load, never read back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Positional arguments in field order, as a dataclass takes them.
        if len(args) > len(type(self).model_fields):
            raise TypeError(f"{type(self).__name__} takes at most "
                            f"{len(type(self).model_fields)} positional arguments")
        kwargs.update(zip(type(self).model_fields, args))
        super().__init__(**kwargs)

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.model_computed_fields:
            return {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data


class Record(Model):
    """A stage's record: `FILE` in the build folder, written by `STAGE`."""

    FILE: ClassVar[str]
    STAGE: ClassVar[str]

    def save(self, folder: Path) -> Path:
        """Write the record atomically into `folder`; return its path."""
        path = Path(folder) / self.FILE
        artifacts.write_text(path, self.model_dump_json(indent=2) + "\n")
        return path

    @classmethod
    def load(cls: type[R], folder: Path) -> R:
        """Read the record from `folder`: a UserError saying what to run when it is missing,
        and naming the file when it does not match this version's types."""
        path = artifacts.require(Path(folder), cls.FILE, cls.STAGE)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {path}: {exc}") from None
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "/".join(str(p) for p in first["loc"]) or "(top)"
            raise UserError(f"{path} does not match what gelu-edge writes ({where}: "
                            f"{first['msg']}; {exc.error_count()} problem(s)): damaged, edited, "
                            f"or from another version; rerun `gelu-edge {cls.STAGE} --out "
                            f"{folder}`") from None
