"""The base of summary.json's models: unknown keys refused, and a defaulted field dumped only when it was given, so a
model read from a file gives that file back byte for byte (verdict/summary_model.py says why)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer

Number = int | float  # a value stored as the writer had it: 60 stays 60, 60.0 stays 60.0 (byte-identical dumps)


class Stored(BaseModel):
    """A section of summary.json: unknown keys refused, and a defaulted field dumped only when it was given."""

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _given_keys_only(self, handler) -> dict[str, Any]:
        data = handler(self)
        for name in type(self).model_fields.keys() - self.model_fields_set:
            if not type(self).model_fields[name].is_required():
                data.pop(name, None)
        return data
