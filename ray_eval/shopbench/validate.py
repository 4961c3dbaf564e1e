"""`ray-eval dataset validate`: every bad row of a dataset, with where it is and why."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ray_eval.errors import DatasetError, RowProblem
from ray_eval.media import MediaError, fetch_bytes, open_image, sample_video
from ray_eval.shopbench.dataset import iter_raw_rows, scan_dataset
from ray_eval.shopbench.readers import SampleInvalid
from ray_eval.shopbench.taxonomy import MediaKind


@dataclass
class ValidationReport:
    path: Path
    format: str
    rows: int
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        verdict = "valid" if self.ok else f"{len(self.problems)} invalid"
        return f"{self.path}: {self.rows} rows ({self.format}), {verdict}"


def validate_dataset(path: Path, format: str = "auto", root: Path | None = None, *, decode_media: bool = False,
                     max_image_pixels: int = 100_000_000) -> ValidationReport:
    try:
        scan = scan_dataset(path, format, root, max_problems=sys.maxsize)
    except DatasetError as exc:
        return ValidationReport(Path(path), format, 0, [RowProblem(str(path), 0, None, None, str(exc), "file")])
    report = ValidationReport(scan.path, scan.format, scan.rows, list(scan.problems))
    if decode_media:
        report.problems.extend(_undecodable(scan, max_image_pixels))
        report.problems.sort(key=lambda problem: problem.row_number)
    return report


def _undecodable(scan, max_image_pixels: int) -> list[RowProblem]:
    """Rows whose media cannot be decoded as the pipeline would decode them."""
    reader, problems = scan.reader, []
    for raw in iter_raw_rows(reader, scan.chunks):
        try:
            sample = reader.to_sample(raw)
        except SampleInvalid:
            continue  # already listed by the scan
        for index, media in enumerate(sample.media):
            try:
                data = fetch_bytes(media)
                if media.kind is MediaKind.IMAGE:
                    open_image(data, media.ref, max_image_pixels)
                else:
                    sample_video(data, media.ref, fps=1.0, max_frames=1, max_pixels=1024, quality=50)
            except MediaError as exc:
                problems.append(RowProblem(reader.path.name, raw.row_number, sample.id, f"media.{index}", str(exc),
                                           reader.row_word))
    return problems
