"""Scoring: the registered scorer of each sample's format; passing decided from the score and the config.

Formats whose scorer is the judge are left unscored here (score null, scorer "judge") for the judge stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from ray_eval.config import EMBEDDING_SCORER, JUDGE_SCORER, ScoringConfig
from ray_eval.errors import ConfigError
from ray_eval.pipeline.stage import Stage, failed
from ray_eval.records import INFERRED_SCHEMA, RESULT_SCHEMA
from ray_eval.scoring import ScoringTarget, get_scorer
from ray_eval.shopbench.taxonomy import AnswerFormat


class ScoringStage(Stage):
    name = "scoring"
    input_columns = tuple(INFERRED_SCHEMA.names)
    output_schema = RESULT_SCHEMA

    def __init__(self, config: ScoringConfig):
        self.config = config
        self.judged = config.judged_formats
        self.names = {fmt.value: name for fmt, name in config.scorers.items() if fmt.value not in self.judged}
        for name in self.names.values():
            self._check(name)  # a wrong name or a missing model folder stops the run before it starts
        self._scorers: dict[str, Any] = {}
        self.pass_thresholds = {
            AnswerFormat.MCQ.value: 1.0,
            AnswerFormat.FORMAT.value: config.format_pass_threshold,
            AnswerFormat.OPEN.value: config.open_pass_threshold,
        }

    def _check(self, name: str) -> None:
        if name != EMBEDDING_SCORER:
            get_scorer(name)
        elif not Path(self.config.embedding_model).is_dir():
            raise ConfigError(f"scoring.embedding_model: {self.config.embedding_model} is not a folder")

    def scorer(self, fmt: str):
        """The scorer of a format, made on first use: the embedding model loads in the worker, not the driver."""
        if fmt not in self._scorers:
            name = self.names[fmt]
            if name == EMBEDDING_SCORER:
                from ray_eval.scoring.embedding import TokenF1CosineScorer

                self._scorers[fmt] = TokenF1CosineScorer(self.config.embedding_model)
            else:
                self._scorers[fmt] = get_scorer(name)
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
        if row["format"] in self.judged:
            return row | {"scorer": JUDGE_SCORER}
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
