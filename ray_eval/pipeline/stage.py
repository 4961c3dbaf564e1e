"""The shape every pipeline stage shares: declared input columns, a declared output schema, and a clear error
naming the stage and the columns it got when wired wrongly."""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from ray_eval.errors import StageInputError
from ray_eval.records import SAMPLE_COLUMNS, STATUS_COLUMNS

CARRIED = [field.name for field in SAMPLE_COLUMNS + STATUS_COLUMNS]  # what every stage passes on untouched


class Stage:
    name: ClassVar[str]
    input_columns: ClassVar[tuple[str, ...]]
    output_schema: ClassVar[pa.Schema]

    def rows(self, batch: pa.Table) -> list[dict[str, Any]]:
        missing = [column for column in self.input_columns if column not in batch.column_names]
        if missing:
            raise StageInputError(
                f"stage {self.name!r} needs column(s) {missing}; the batch has {sorted(batch.column_names)}"
            )
        return batch.select(list(self.input_columns)).to_pylist()

    def table(self, rows: list[dict[str, Any]]) -> pa.Table:
        names = self.output_schema.names
        return pa.Table.from_pylist([{name: row.get(name) for name in names} for row in rows],
                                    schema=self.output_schema)


def failed(row: dict[str, Any], stage: str, error_type: str, message: str,
           engine_fault: bool = False) -> dict[str, Any]:
    """The row marked as failed at `stage`; later stages pass it through untouched. `engine_fault`: the engine
    failed, not the request or the answer (records.py)."""
    return {**row, "status": "error", "error_stage": stage, "error_type": error_type, "error": message,
            "engine_fault": engine_fault}
