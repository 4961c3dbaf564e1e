"""The typed rows ray-eval passes around: Sample (what a dataset holds) and the Arrow columns of each stage.

A Sample is validated once, by the reader. Between pipeline stages rows travel as Arrow tables whose columns are
declared here, so every block has the same schema whatever its values (an all-null block must not change a type).
"""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ray_eval.data.taxonomy import (
    LABEL_LEVELS,
    SUBSET_INPUT_TYPE,
    AnswerFormat,
    InputType,
    MediaKind,
    Subset,
    option_letter,
)


class Media(BaseModel):
    """One image or video of a sample: a local path (absolute, inside the dataset root), a URI, or inline bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: MediaKind
    path: str | None = None
    uri: str | None = None
    data: bytes | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Media:
        given = [name for name in ("path", "uri", "data") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a media item needs exactly one of path, uri or bytes; got {given or 'none'}")
        return self

    @property
    def ref(self) -> str:
        """A short printable reference: the path or URI, or the size of inline bytes."""
        if self.path is not None:
            return self.path
        if self.uri is not None:
            return self.uri if not self.uri.startswith("data:") else f"data-uri:{len(self.uri)} chars"
        return f"bytes:{len(self.data or b'')}"


class Labels(BaseModel):
    """ShopBench's four-level taxonomy (L1 Perception/Reasoning ... L4 leaf category)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    l1: str | None = None
    l2: str | None = None
    l3: str | None = None
    l4: str | None = None


class Sample(BaseModel):
    """One benchmark question with its media and expected answer."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(min_length=1, description="Unique within the dataset.")
    subset: Subset | None = Field(default=None, description="None where the source has no subsets (seed suites).")
    format: AnswerFormat
    input_type: InputType
    question: str = Field(min_length=1)
    options: tuple[str, ...] = Field(default=(), description="MCQ option texts; letters follow their order.")
    answer: str | dict[str, Any] = Field(description="MCQ: a letter; format: a JSON object; open: reference text.")
    answer_schema: dict[str, Any] | None = Field(
        default=None, alias="schema", description="JSON Schema the answer of a format question must follow."
    )
    media: tuple[Media, ...] = Field(min_length=1)
    labels: Labels = Labels()
    # Strict: a manifest's "2" or "yes" is a wrong type to report, not a value to guess.
    weight: float = Field(default=1.0, gt=0, strict=True)
    critical: bool = Field(default=False, strict=True)

    @field_validator("weight", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("weight must be a finite number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Sample:
        images = sum(m.kind is MediaKind.IMAGE for m in self.media)
        videos = sum(m.kind is MediaKind.VIDEO for m in self.media)
        expected_media = {
            InputType.SINGLE: (images == 1 and videos == 0, "exactly one image"),
            InputType.MULTI: (images >= 2 and videos == 0, "two or more images"),
            InputType.VIDEO: (videos == 1 and images == 0, "exactly one video"),
        }
        ok, wanted = expected_media[self.input_type]
        if not ok:
            raise ValueError(f"input_type {self.input_type.value} needs {wanted}; "
                             f"got {images} image(s), {videos} video(s)")
        if self.subset is not None and SUBSET_INPUT_TYPE[self.subset] is not self.input_type:
            raise ValueError(
                f"subset {self.subset.value} holds {SUBSET_INPUT_TYPE[self.subset].value} questions,"
                f" not {self.input_type.value}"
            )
        if self.format is AnswerFormat.MCQ:
            self._check_mcq()
        elif self.format is AnswerFormat.FORMAT:
            self._check_format()
        elif not isinstance(self.answer, str) or not self.answer.strip():
            raise ValueError("an open question needs a non-empty reference answer text")
        return self

    def _check_mcq(self) -> None:
        if len(self.options) < 2:
            raise ValueError(f"an mcq question needs at least 2 options; got {len(self.options)}")
        letters = [option_letter(i) for i in range(len(self.options))]
        if not isinstance(self.answer, str) or self.answer not in letters:
            hint = ""
            if isinstance(self.answer, str) and self.answer.strip() in self.options:
                letter = letters[self.options.index(self.answer.strip())]
                hint = f" (it is the text of option {letter}; give the letter)"
            elif isinstance(self.answer, str) and self.answer.strip().upper() in letters:
                hint = f" (give the letter as {self.answer.strip().upper()!r})"
            raise ValueError(f"mcq answer {self.answer!r} is not one of the option letters {', '.join(letters)}{hint}")

    def _check_format(self) -> None:
        if not isinstance(self.answer, dict):
            raise ValueError("a format question's answer must be a JSON object")
        if self.answer_schema is not None:
            try:
                jsonschema.Draft202012Validator.check_schema(self.answer_schema)
                jsonschema.validate(self.answer, self.answer_schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"schema is not a valid JSON Schema: {exc.message}") from None
            except jsonschema.ValidationError as exc:
                raise ValueError(f"answer does not follow its own schema: {exc.message}") from None

    def answer_text(self) -> str:
        """The answer as one string column: the letter, the reference text, or canonical JSON."""
        if isinstance(self.answer, dict):
            return json.dumps(self.answer, ensure_ascii=False, sort_keys=True)
        return self.answer


# ---- Arrow columns -------------------------------------------------------------------------------------------------

MEDIA_TYPE = pa.struct(
    [("kind", pa.string()), ("path", pa.string()), ("uri", pa.string()), ("data", pa.binary())]
)

# What identifies and describes a sample; carried from the reader to results.parquet.
SAMPLE_COLUMNS = [
    # The suite the row belongs to (config.SuiteConfig.name); sample ids are unique within a suite. Null in rows
    # written before suites: those runs had one suite (RunStore fills in its name).
    pa.field("suite", pa.string()),
    pa.field("sample_id", pa.string()),
    pa.field("source", pa.string()),  # the file the row came from
    pa.field("row_number", pa.int64()),  # 1-based line (JSONL, TSV data rows) or row (Parquet) or case index (seed)
    pa.field("subset", pa.string()),
    pa.field("format", pa.string()),
    pa.field("input_type", pa.string()),
    pa.field("question", pa.string()),
    pa.field("options", pa.list_(pa.string())),
    pa.field("answer", pa.string()),
    pa.field("answer_schema", pa.string()),  # JSON text
    *[pa.field(level, pa.string()) for level in LABEL_LEVELS],
    pa.field("weight", pa.float64()),
    pa.field("critical", pa.bool_()),
    pa.field("media_refs", pa.list_(pa.string())),
]
MEDIA_COLUMNS = [pa.field("media", pa.list_(MEDIA_TYPE))]
# Every row carries its fate; a row that failed at any stage keeps going, untouched by later stages.
STATUS_COLUMNS = [
    pa.field("status", pa.string()),  # "ok" or "error"
    pa.field("error_stage", pa.string()),  # read | preprocess | inference | scoring
    pa.field("error_type", pa.string()),
    pa.field("error", pa.string()),
    # True: the engine failed (refused or dropped connections, timeouts, 429, 5xx past the retry window), not the
    # request or the model's answer: the row says nothing about the model, and the run stays incomplete until a
    # resume with --retry-errors asks it again. Null in rows written before this column.
    pa.field("engine_fault", pa.bool_()),
]
PROMPT_COLUMNS = [
    pa.field("prompt", pa.string()),  # the rendered text part, for reading results
    # For the report, per media item in order: a small JPEG (a video's: a strip of the frames sent), and what it shows
    # ("image 2 of 3", "video: 8 of 32 frames at 0.0, ... s"). Results written before held one `thumbnail`.
    pa.field("thumbnails", pa.list_(pa.binary())),
    pa.field("thumbnail_captions", pa.list_(pa.string())),
    pa.field("media_digests", pa.list_(pa.string())),  # sha256 of each media item's bytes: shared media cluster samples
    pa.field("variant", pa.string()),  # "standard", or "blind": asked without its media (diagnostics.blind_pass)
]
MESSAGES_COLUMNS = [
    pa.field("messages_json", pa.string()),  # the OpenAI chat messages, media inlined
    pa.field("request_json", pa.string()),  # extra request fields of this sample (vLLM's media_io_kwargs), or null
]
INFERENCE_COLUMNS = [
    pa.field("response", pa.string()),
    pa.field("finish_reason", pa.string()),
    pa.field("response_model", pa.string()),
    pa.field("latency_s", pa.float64()),
    pa.field("answered_at", pa.float64()),  # Unix time the answer (or the final error) came back: the run's timeline
    pa.field("prompt_tokens", pa.int64()),
    pa.field("completion_tokens", pa.int64()),
    pa.field("attempts", pa.int64()),
]
SCORE_COLUMNS = [
    pa.field("extracted", pa.string()),  # what the scorer read from the response (letter, JSON, text)
    pa.field("score", pa.float64()),  # in [0, 1]; 0 for errors
    pa.field("passed", pa.bool_()),
    pa.field("unparsed", pa.bool_()),  # the scorer could not read an answer from the response
    pa.field("scorer", pa.string()),
    pa.field("score_details", pa.string()),  # JSON
    pa.field("judge_verdict", pa.string()),  # the judge's raw reply, when a judge scored the row
]

STANDARD, BLIND = "standard", "blind"  # values of the variant column
# The status of a row whose request was cut short because the run stopped (the engine is down): no result at all.
# It travels from the inference actor to the driver, which leaves it out of the results (a resume asks it again).
STOPPED = "stopped"

READ_SCHEMA = pa.schema(SAMPLE_COLUMNS + MEDIA_COLUMNS + STATUS_COLUMNS)
PREPARED_SCHEMA = pa.schema(SAMPLE_COLUMNS + STATUS_COLUMNS + PROMPT_COLUMNS + MESSAGES_COLUMNS)
INFERRED_SCHEMA = pa.schema(SAMPLE_COLUMNS + STATUS_COLUMNS + PROMPT_COLUMNS + INFERENCE_COLUMNS)
RESULT_SCHEMA = pa.schema(SAMPLE_COLUMNS + STATUS_COLUMNS + PROMPT_COLUMNS + INFERENCE_COLUMNS + SCORE_COLUMNS)


def sample_row(sample: Sample, suite: str, source: str, row_number: int) -> dict[str, Any]:
    """The READ_SCHEMA row of a valid sample of a suite."""
    return {
        "suite": suite,
        "sample_id": sample.id,
        "source": source,
        "row_number": row_number,
        "subset": sample.subset.value if sample.subset else None,
        "format": sample.format.value,
        "input_type": sample.input_type.value,
        "question": sample.question,
        "options": list(sample.options),
        "answer": sample.answer_text(),
        "answer_schema": json.dumps(sample.answer_schema, ensure_ascii=False) if sample.answer_schema else None,
        **{level: getattr(sample.labels, level) for level in LABEL_LEVELS},
        "weight": sample.weight,
        "critical": sample.critical,
        "media_refs": [m.ref for m in sample.media],
        "media": [
            {"kind": m.kind.value, "path": m.path, "uri": m.uri, "data": m.data} for m in sample.media
        ],
        "status": "ok",
        "error_stage": None,
        "error_type": None,
        "error": None,
        "engine_fault": None,
    }


def invalid_row(suite: str, source: str, row_number: int, sample_id: str | None, reason: str) -> dict[str, Any]:
    """The READ_SCHEMA row of a dataset row that could not become a Sample; it still ends in the results."""
    row: dict[str, Any] = {field.name: None for field in READ_SCHEMA}
    row.update(
        suite=suite,
        sample_id=_utf8(sample_id) if sample_id else f"{source}:{row_number}",
        source=source,
        row_number=row_number,
        options=[],
        media_refs=[],
        media=[],
        weight=1.0,
        critical=False,
        status="error",
        error_stage="read",
        error_type="InvalidSample",
        error=_utf8(reason),
    )
    return row


def _utf8(text: str) -> str:
    """The text with lone surrogates (from bytes that were not UTF-8) spelled as escapes: Arrow strings are UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def media_from_row(row: dict[str, Any]) -> list[Media]:
    return [Media.model_validate(item) for item in row["media"] or []]
