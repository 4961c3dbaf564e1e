"""Scoring: the registered scorer of each sample's format; passing decided from the score and the config.

Formats whose scorer has a stage of its own (the judge) are left unscored here (score null, scorer "judge") for
that stage."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from ray_eval.config import ScoringConfig
from ray_eval.data.taxonomy import AnswerFormat
from ray_eval.pipeline.stage import Stage, failed
from ray_eval.records import INFERRED_SCHEMA, RESULT_SCHEMA
from ray_eval.scoring import ScoringTarget, scorer_entry


class ScoringStage(Stage):
    name = "scoring"
    input_columns = tuple(INFERRED_SCHEMA.names)
    output_schema = RESULT_SCHEMA

    def __init__(self, config: ScoringConfig):
        self.config = config
        self.names = {fmt.value: name for fmt, name in config.scorers.items()}
        # A wrong name or a missing model folder stops the run before it starts.
        self.entries = {fmt: scorer_entry(name) for fmt, name in self.names.items()}
        for entry in self.entries.values():
            entry.check(config)
        self.own_stage = frozenset(fmt for fmt, entry in self.entries.items() if entry.own_stage)
        self._scorers: dict[str, Any] = {}
        self.pass_thresholds = {
            AnswerFormat.MCQ.value: 1.0,
            AnswerFormat.FORMAT.value: config.format_pass_threshold,
            AnswerFormat.OPEN.value: config.open_pass_threshold,
        }

    def scorer(self, fmt: str):
        """The scorer of a format, made on first use: the embedding model loads in the worker, not the driver."""
        if fmt not in self._scorers:
            self._scorers[fmt] = self.entries[fmt].make(self.config)
        return self._scorers[fmt]

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.table(self.score_rows(self.rows(batch)))

    def score_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.score(row) for row in rows]

    def score(self, row: dict[str, Any]) -> dict[str, Any]:
        # Failed rows count as wrong answers (score 0), and are counted as errors, not as unparsed answers.
        zero = {"score": 0.0, "passed": False, "unparsed": False}
        if row["status"] != "ok":
            return row | zero
        if row["format"] in self.own_stage:
            return row | {"scorer": self.names[row["format"]]}
        name, scorer = self.names[row["format"]], self.scorer(row["format"])
        target = ScoringTarget(
            format=row["format"],
            options=tuple(row["options"] or ()),
            answer=row["answer"],
            answer_schema=json.loads(row["answer_schema"]) if row["answer_schema"] else None,
        )
        try:
            result = scorer(row["response"], target)
        except Exception as exc:  # noqa: BLE001 - a scorer bug on one answer is that row's error, not the run's end
            return failed(row, self.name, type(exc).__name__, f"scorer {name}: {exc}") | zero | {"scorer": name}
        passed = not result.unparsed and result.score >= self.pass_thresholds[row["format"]]
        return row | {
            "extracted": result.extracted,
            "score": float(result.score),
            "passed": passed,
            "unparsed": result.unparsed,
            "scorer": name,
            "score_details": json.dumps(result.details, ensure_ascii=False, default=str),
        }


class SuiteScoring:
    """Every suite's ScoringStage: a row is scored by its own suite's scorers and pass marks."""

    def __init__(self, scoring: Mapping[str, ScoringConfig]):
        self.stages = {suite: ScoringStage(config) for suite, config in scoring.items()}

    def score_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.stages[row["suite"]].score(row) for row in rows]
