"""The probe pool: the canary's ShopBench questions, read and prepared once at start (images decoded, resized and
inlined by the evaluation's own preprocessing), so every round only sends requests and scores answers."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from ray_eval.canary.config import CanaryConfig, CanarySuiteConfig
from ray_eval.data.dataset import DatasetScan, iter_raw_rows, scan_dataset
from ray_eval.errors import DatasetError
from ray_eval.pipeline.preprocess import PreprocessStage
from ray_eval.records import sample_row

log = logging.getLogger(__name__)
NO_LABEL = "(none)"  # the label value of a probe without a subset or an L2 category
MAX_LISTED_PROBLEMS = 10


@dataclass(frozen=True)
class Probe:
    """One question with its prepared chat messages (media inlined) and what scoring needs."""

    id: str  # unique within its suite (two suites may both hold an "mcq-1")
    suite: str
    subset: str
    category: str  # the sample's L2 label
    format: str
    messages: list[dict[str, Any]] = field(repr=False)  # holds base64 images: kept out of repr and logs
    extra: dict[str, Any] = field(default_factory=dict)  # per-request fields (vLLM's media_io_kwargs)
    row: dict[str, Any] = field(default_factory=dict, repr=False)  # the pipeline row ScoringStage.score reads
    media_parts: int = 0  # image_url and video_url parts sent with the question


@dataclass(frozen=True)
class ProbePool:
    probes: list[Probe]
    skipped: list[str]  # probes left out because their media could not be prepared: "id: reason"


def load_probes(config: CanaryConfig) -> ProbePool:
    """Read every suite's probes, keep the critical samples (by default), prepare each probe's messages once; the
    pool holds the suites' probes in the config's order.

    A dataset with bad rows is refused (DatasetError, exit 2) as the evaluation refuses it; a probe whose media
    cannot be prepared is left out and listed, since sending it would measure the canary's data, not production.
    """
    # No thumbnails: nothing shows them, and making one costs a decode per probe.
    stage = PreprocessStage(config.preprocess.model_copy(update={"thumbnail_px": 0}))
    suites = config.probe_suites()
    probes: list[Probe] = []
    skipped: list[str] = []
    for suite in suites:
        suite_probes, suite_skipped = _suite_probes(suite, stage, several=len(suites) > 1)
        probes += suite_probes
        skipped += suite_skipped
    log.info("probe pool: %d probe(s) from %s, %d left out", len(probes),
             ", ".join(str(suite.probes.path) for suite in suites), len(skipped))
    return ProbePool(probes, skipped)


def scan_suite(suite: CanarySuiteConfig, several: bool) -> DatasetScan:
    """A suite's probe file, scanned under the suite's name; with several suites, an unreadable file's error names
    the suite."""
    source = suite.probes
    try:
        return scan_dataset(source.path, source.format, source.root, format_option="probes.format", suite=suite.name)
    except DatasetError as exc:
        if not several:
            raise
        raise DatasetError(f"suite {suite.name}: {exc}", exc.problems) from None


def _suite_probes(suite: CanarySuiteConfig, stage: PreprocessStage, several: bool) -> tuple[list[Probe], list[str]]:
    """One suite's probes and those left out. With several suites, errors and left-out probes name the suite."""
    source = suite.probes
    field = f"suite {suite.name}: probes.path" if several else "probes.path"
    named = f"{suite.name}/" if several else ""
    scan = scan_suite(suite, several)
    if scan.problem_count:
        listed = "\n  ".join(str(problem) for problem in scan.problems[:MAX_LISTED_PROBLEMS])
        raise DatasetError(f"{field}: {scan.path} has {scan.problem_count} bad row(s):\n  {listed}", scan.problems)
    probes: list[Probe] = []
    skipped: list[str] = []
    for raw in iter_raw_rows(scan.reader, scan.chunks):
        sample = scan.reader.to_sample(raw)
        if source.critical_only and not sample.critical:
            continue
        prepared = stage.prepare(sample_row(sample, scan.suite, scan.path.name, raw.row_number))
        if prepared["status"] != "ok":
            skipped.append(f"{named}{sample.id}: {prepared['error']}")
            log.warning("probe %s of suite %s left out of the pool: %s", sample.id, suite.name, prepared["error"])
            continue
        messages = json.loads(prepared.pop("messages_json"))
        extra = json.loads(prepared.pop("request_json") or "{}")
        probes.append(Probe(
            id=sample.id, suite=scan.suite, subset=sample.subset.value if sample.subset else NO_LABEL,
            category=sample.labels.l2 or NO_LABEL, format=sample.format.value, messages=messages, extra=extra,
            row=prepared, media_parts=_media_parts(messages),
        ))
        if source.limit is not None and len(probes) >= source.limit:
            break
    if not probes:
        wanted = "critical samples" if source.critical_only else "samples"
        raise DatasetError(f"{field}: {scan.path} has no usable {wanted} to probe with"
                           + (f" ({len(skipped)} left out: {skipped[0]})" if skipped else ""))
    return probes, skipped


def _media_parts(messages: list[dict[str, Any]]) -> int:
    return sum(1 for message in messages if isinstance(message.get("content"), list)
               for part in message["content"] if part.get("type") in ("image_url", "video_url"))
