"""`ray-eval dataset validate`: every bad row of a dataset, with where it is and why."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ray_eval.config import PreprocessConfig
from ray_eval.data.dataset import DatasetScan, iter_raw_rows, scan_dataset
from ray_eval.data.readers import SampleInvalid
from ray_eval.errors import DatasetError, RowProblem
from ray_eval.records import sample_row

MEDIA_FIELD = re.compile(r"^(media\.\d+): ")


@dataclass
class ValidationReport:
    path: Path
    format: str
    rows: int
    problems: list[RowProblem] = field(default_factory=list)
    media_root: Path | None = None  # where relative media paths were looked up; None when the file was unreadable
    media_root_default: str | None = None  # why there, when no root was given: "the file's folder", ...

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        verdict = "valid" if self.ok else f"{len(self.problems)} invalid"
        where = f"; relative media paths looked up in {self.media_root}" if self.media_root is not None else ""
        if where and self.media_root_default:
            where += f" ({self.media_root_default}; --root to change)"
        return f"{self.path}: {self.rows} rows ({self.format}), {verdict}{where}"


def validate_dataset(path: Path, format: str = "auto", root: Path | None = None, *, decode_media: bool = False,
                     max_image_pixels: int = 100_000_000, preprocess: PreprocessConfig | None = None,
                     format_option: str = "dataset.format") -> ValidationReport:
    """Every bad row of a dataset. With `decode_media`, every valid row also goes through the run's own
    preprocessing (`preprocess`, default: the defaults with `max_image_pixels`), so media that cannot be decoded
    and, with preprocess.max_prompt_tokens, prompts too long are listed too. `format_option` is what messages
    call the setting that picks the reader (the command's --format)."""
    try:
        scan = scan_dataset(path, format, root, max_problems=sys.maxsize, format_option=format_option)
    except DatasetError as exc:
        return ValidationReport(Path(path), format, 0, [RowProblem(str(path), 0, None, None, str(exc), "file")])
    reader = scan.reader
    default = (None if root is not None else "the file's folder" if reader.root == reader.path.parent
               else "the working directory, this format's default")
    report = ValidationReport(scan.path, scan.format, scan.rows, list(scan.problems), reader.root, default)
    if decode_media:
        config = preprocess if preprocess is not None else PreprocessConfig(max_image_pixels=max_image_pixels)
        report.problems.extend(_unpreparable(scan, config))
        report.problems.sort(key=lambda problem: problem.row_number)
    return report


def _unpreparable(scan: DatasetScan, config: PreprocessConfig) -> list[RowProblem]:
    """Rows the preprocess stage would turn into error rows (media that cannot be decoded, prompts too long)."""
    from ray_eval.pipeline.preprocess import PreprocessStage  # the pipeline's own code, imported when asked for

    stage = PreprocessStage(config.model_copy(update={"thumbnail_px": 0}))
    reader, source, problems = scan.reader, scan.reader.path.name, []
    for raw in iter_raw_rows(reader, scan.chunks):
        if raw.row_number in scan.duplicate_rows:
            continue  # already listed by the scan
        try:
            sample = reader.to_sample(raw)
        except SampleInvalid:
            continue  # already listed by the scan
        prepared = stage.prepare(sample_row(sample, scan.suite, source, raw.row_number))
        if prepared["status"] != "ok":
            error = prepared["error"]
            match = MEDIA_FIELD.match(error)
            field_name, reason = (match.group(1), error[match.end():]) if match else (None, error)
            problems.append(RowProblem(source, raw.row_number, sample.id, field_name, reason, reader.row_word))
    return problems
