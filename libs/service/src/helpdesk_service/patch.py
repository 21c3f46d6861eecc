"""``PatchModel``: the body of a partial update. A field left out keeps its value; a field
sent as null clears it only where clearing means something (``nullable``), and elsewhere is
refused with a 422 naming the field. The OpenAPI schema says the same: null is admitted
only for the ``nullable`` fields, so generated clients do not offer it elsewhere."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def _without_null(schema: dict[str, Any], model: type[BaseModel]) -> None:
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        if name in nullable or "anyOf" not in prop:
            continue
        kept = [s for s in prop["anyOf"] if s.get("type") != "null"]
        del prop["anyOf"]
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept
        if prop.get("default", ...) is None:
            del prop["default"]


class PatchModel(BaseModel):
    """Fields default to None meaning "left out"; ``nullable`` lists those null clears."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_null)
    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_it_clears(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise PydanticCustomError(
                "not_nullable",
                "cannot be null; leave the field out to keep its value",
            )
        return value
