"""The one configuration tree of a run, validated once at load.

Every field is documented where it is declared. Unknown keys are errors that name the field; relative paths are
relative to the working directory the command runs in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from ray_eval.config_fingerprint import CountsWhenSet, NotFingerprinted, fingerprint
from ray_eval.config_loading import (
    StrictModel,
    apply_override,
    describe_error,
    load,
    models_in,
    read_config_file,
    validate,
)
from ray_eval.engine_config import EngineConfig

# The engine blocks, as other modules import them (the aliases say: exported).
from ray_eval.engine_config import OpenAIEngineConfig as OpenAIEngineConfig
from ray_eval.engine_config import ScriptedEngineConfig as ScriptedEngineConfig
from ray_eval.engine_config import ServeHandleEngineConfig as ServeHandleEngineConfig
from ray_eval.errors import ConfigError

# The scoring and gate blocks, as other modules import them (the aliases say: exported).
from ray_eval.gate_config import BaselineConfig as BaselineConfig
from ray_eval.gate_config import GateConfig as GateConfig
from ray_eval.gate_config import Thresholds as Thresholds
from ray_eval.scoring_config import DEFAULT_FORMAT_SCORERS as DEFAULT_FORMAT_SCORERS
from ray_eval.scoring_config import EMBEDDING_SCORER as EMBEDDING_SCORER
from ray_eval.scoring_config import JUDGE_SCORER as JUDGE_SCORER
from ray_eval.scoring_config import DiagnosticsConfig as DiagnosticsConfig
from ray_eval.scoring_config import JudgeConfig as JudgeConfig
from ray_eval.scoring_config import ScoringConfig as ScoringConfig
from ray_eval.scoring_config import StatisticsConfig as StatisticsConfig

# Why a field is not part of the fingerprint: a resumed run may change it and still be the same run.
SPEED = NotFingerprinted("how fast the run goes, not what it answers: a resumed run may go faster or slower")
WHERE = NotFingerprinted("where the results are written, not what they are")
HOW_OFTEN = NotFingerprinted("how often progress is shown or saved, not what is answered")


# ---- dataset ---------------------------------------------------------------------------------------------------------


class DatasetConfig(StrictModel):
    path: Path = Field(description="Manifest (.jsonl/.parquet), seed suite (.json) or VLMEvalKit TSV (.tsv).")
    format: Literal["auto", "manifest", "seed_json", "vlmeval_tsv"] = Field(
        "auto", description="Reader to use; auto picks one from the file's extension and content."
    )
    root: Path | None = Field(None, description="Folder relative media paths are resolved in and may not leave; "
                              "default the file's folder (a seed suite .json: the working directory).")
    limit: int | None = Field(None, ge=1, description="Evaluate only the first N rows (smoke runs).")
    invalid_rows: Literal["refuse", "error_row"] = Field(
        "refuse",
        description="refuse: a dataset with bad rows stops the run before anything is evaluated (exit 2); "
        "error_row: bad rows become error rows of the results and the rest is evaluated.",
    )
    rows_per_read_task: Annotated[int | None, NotFingerprinted("how rows are grouped for reading, not which")] = Field(
        None, ge=1, description="Rows per Ray Data read task, which an inference actor then works on as one batch; "
        "unset: the inference batch size (inference.batch_size).")


# ---- preprocess ------------------------------------------------------------------------------------------------------


class VideoConfig(StrictModel):
    fps: float = Field(2.0, gt=0, description="Frames sampled per second of video (Qwen3-VL's default is 2).")
    max_frames: int = Field(32, ge=1, description="Cap on sampled frames; longer videos are sampled evenly.")
    min_frames: int = Field(2, ge=1, description="Shorter clips repeat their last frame (Qwen-VL merges frames in "
                                                 "pairs).")
    max_pixels_per_frame: int = Field(200_704, ge=1024, description="Pixel budget of each frame after resizing.")
    send_as: Literal["video_frames", "images"] = Field(
        "video_frames",
        description="video_frames: one video_url part holding the JPEG frames (vLLM's data:video/jpeg form); "
        "images: one image_url part per frame (endpoints without video support).",
    )
    send_media_io_kwargs: bool = Field(
        False,
        description="With video_frames, tell vLLM the sampled frames' rate and count in each request's media_io_kwargs "
        "(else it assumes 1 fps and keeps 32 frames); the server must allow it (trust_request_mm_kwargs).",
    )


class PromptConfig(StrictModel):
    system: str | None = Field(None, description="Optional system message sent before every question.")
    mcq: str = Field(
        "{{ question }}\n{% for letter, text in options %}{{ letter }}. {{ text }}\n{% endfor %}"
        "Answer with the option's letter from the given choices directly.",
        description="Jinja2 template of an MCQ prompt; variables: question, options (letter, text pairs).",
    )
    mcq_zh: str = Field(
        "{{ question }}\n{% for letter, text in options %}{{ letter }}. {{ text }}\n{% endfor %}"
        "请直接回答正确选项的字母。",
        description="MCQ template for questions written in Chinese.",
    )
    format: str = Field(
        "{{ question }}\nAnswer with a single JSON object{% if schema %} that follows this JSON Schema:\n"
        "{{ schema }}{% endif %}",
        description="Template of a format question; variables: question, schema (JSON text or empty).",
    )
    format_zh: str = Field(
        "{{ question }}\n请只输出一个 JSON 对象{% if schema %}，并符合以下 JSON Schema：\n{{ schema }}{% endif %}",
        description="Format template for questions written in Chinese.",
    )
    open: str = Field("{{ question }}\nAnswer briefly.", description="Template of an open question.")
    open_zh: str = Field("{{ question }}\n请简要回答。", description="Open template for questions written in Chinese.")


class PreprocessConfig(StrictModel):
    max_pixels: int = Field(602_112, ge=1024, description="Pixel budget per image (Ostrakon-VL trained at 602,112).")
    send_images_as: Literal["resized", "original"] = Field(
        "resized",
        description="resized: images over max_pixels are resized here and re-encoded as JPEG, so the engine gets "
        "small requests and spends little CPU on them; original: every image is decoded here as a check and sent "
        "as its own bytes, resized once by the engine's processor (set the engine's max_pixels to max_pixels). "
        "Rotated (EXIF) images and formats engines may not read are re-encoded either way.",
    )
    jpeg_quality: int = Field(90, ge=1, le=100, description="Quality of re-encoded images and frames.")
    thumbnail_px: int = Field(160, ge=0, description=(
        "Longest side of the report thumbnail kept per media item (a video's: a strip of up to 8 of the frames sent, "
        "at most this high and 4 times as wide); 0 keeps none."))
    max_image_pixels: int = Field(
        100_000_000, ge=1, description="Images declaring more pixels are refused as decompression bombs."
    )
    max_prompt_tokens: int | None = Field(
        None, ge=1,
        description="Longest prompt in estimated tokens (text, images and video frames counted as Qwen3-VL "
        "counts them, erring high): set it to the engine's max_model_len minus inference.sampling.max_tokens. "
        "A longer prompt becomes an error row (PromptTooLong) before any request; unset: no check.",
    )
    video: VideoConfig = VideoConfig()
    prompts: PromptConfig = PromptConfig()


# ---- engine and inference (the engine blocks: ray_eval.engine_config) ------------------------------------------------




class ServeConfig(StrictModel):
    config: Path | None = Field(
        None, description="Ray Serve config file (serve_configs/*.yaml) deployed before the run; "
        "unset: use the Serve apps already running."
    )
    keep_running: bool = Field(False, description="Leave the deployed apps running after the run.")
    ready_timeout_s: float = Field(900.0, gt=0, description="Longest wait for the deployed apps to be RUNNING.")


class SamplingConfig(StrictModel):
    max_tokens: int = Field(256, ge=1, description="Longest answer, in tokens.")
    temperature: float = Field(0.0, ge=0, description="0 is greedy decoding: the reproducible choice for a gate.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass; 1 keeps every token.")
    seed: int | None = Field(0, description="Sampling seed sent to the engine (None sends none).")


class InferenceConfig(StrictModel):
    """How many requests are in flight. Unset sizes come from the engine's capacity: enough requests that the engine
    never waits for the client (BENCHMARKS.md shows the measurements behind the defaults)."""

    engine_capacity: Annotated[int | None, SPEED] = Field(
        None, ge=1, description="Requests the engine works on at once (vLLM's max_num_seqs times its replicas). "
        "Unset: for a serve_handle engine, read from Serve (max_ongoing_requests times the replicas; with "
        "autoscaling, max_replicas, so the load can bring up every replica); otherwise 32.",
    )
    actors: Annotated[int | None, SPEED] = Field(
        None, ge=1, description="Inference actors, each holding one client; unset: the requests wanted in flight "
        "(engine_capacity x in_flight_per_slot) over 64 per actor, 1 to 16 actors, as many as the cluster's CPUs hold "
        "(num_cpus_per_actor each).",
    )
    max_in_flight_per_actor: Annotated[int | None, SPEED] = Field(
        None, ge=1, description="Requests each actor keeps in flight at once; unset: the requests wanted in flight "
        "shared over the actors.",
    )
    batch_size: Annotated[int | None, SPEED] = Field(
        None, ge=1, description="Samples per inference batch (one Ray Data block: read, prepared, answered and scored "
        "by one actor); unset: a quarter of an actor's requests in flight. Each actor works on batches holding twice "
        "its requests in flight at once; a batch leaves for the driver (and disk) when its slowest answer is in, so a "
        "slow request holds back only its own batch.",
    )
    in_flight_per_slot: Annotated[float, SPEED] = Field(
        2.0, gt=0, description="Requests kept in flight per request the engine works on at once (engine_capacity): "
        "the queue that keeps the engine busy while answers travel back and the next batches are prepared.",
    )
    num_cpus_per_actor: Annotated[float, SPEED] = Field(
        1.0, gt=0, description="CPUs reserved per inference actor. Each also reads its samples, fetches and decodes "
        "their media, builds the requests and scores the answers (the CPU work of a run).")
    sampling: SamplingConfig = SamplingConfig()


# ---- run -------------------------------------------------------------------------------------------------------------


class RunConfig(StrictModel):
    out_dir: Annotated[Path, WHERE] = Field(
        Path("runs"), description="Folder in which each run gets its own directory.")
    run_id: Annotated[str | None, WHERE] = Field(
        None, pattern=r"^[A-Za-z0-9._-]+$", description="Run directory name; default a timestamp.")
    model_label: str | None = Field(None, description="Checkpoint name shown in reports; default the engine's model.")
    smoke_model: bool = Field(
        False, description="The model is a smoke-test model (random weights): reports say its scores mean nothing."
    )
    demo_model: Annotated[bool, CountsWhenSet("issue 19: the demo model's note")] = Field(
        False, description="The model is the project's small demo model trained on synthetic data (ray-eval model "
        "train-tiny): reports say what its scores do and do not mean."
    )
    max_engine_error_rate: float = Field(
        0.2, ge=0, le=1, description="Error budget: above this share of the run's samples sent to the engine ending in "
        "an engine error (all its sessions: a resumed run's earlier ones too), the run is incomplete (exit 3)."
    )
    abort_after_consecutive_failures: int = Field(
        50, ge=1, description="Stop the run (exit 3) when this many requests in a row failed for good at the engine, "
        "or this many tries in a row failed over more than the engine's retry_window_s (the engine is down: the "
        "requests still retrying would fail too). Counted over every inference actor as the failures happen.",
    )
    progress_interval_s: Annotated[float, HOW_OFTEN] = Field(10.0, gt=0, description="Seconds between progress lines.")
    checkpoint_rows: Annotated[int, HOW_OFTEN] = Field(
        500, ge=1, description="Results are written to disk (a checkpoint a resumed run starts from) every this many "
                               "rows..."
    )
    checkpoint_interval_s: Annotated[float, HOW_OFTEN] = Field(
        30.0, gt=0, description="... or after this many seconds, whichever comes first.")


    @model_validator(mode="after")
    def _one_kind_of_model(self) -> RunConfig:
        if self.smoke_model and self.demo_model:
            raise ValueError("run.smoke_model and run.demo_model are both set: a model is one or the other")
        return self

class RayConfig(StrictModel):
    address: str | None = Field(None, description="Cluster to join; default RAY_ADDRESS, else a new local Ray.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray started by the run.")
    object_store_memory: int | None = Field(None, ge=78_643_200, description="Object store bytes of a local Ray.")


class MetricsConfig(StrictModel):
    """Prometheus export of each run: pushed to a Pushgateway, written as a node_exporter textfile, or both."""

    pushgateway_url: str | None = Field(
        None, description="Pushgateway to push the run's metrics to, e.g. http://127.0.0.1:9091; unset: no push."
    )
    textfile: Path | None = Field(
        None, description="File for node_exporter's textfile collector (*.prom), replaced atomically; unset: none."
    )
    job: str = Field("ray-eval", min_length=1, description="Pushgateway job name (first part of the grouping key).")
    environment: str = Field("dev", min_length=1, description="Environment label: dev, staging, prod ...")
    dataset_label: str | None = Field(None, description="Dataset label; default the dataset file's name without "
                                                        "suffix.")
    push_interval_s: float = Field(
        30.0, ge=0, description="Push progress (samples, errors, latency) this often while the run goes; 0: only at "
                                "the end."
    )
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one push.")


class ReportConfig(StrictModel):
    max_samples: int = Field(500, ge=0, description="Samples detailed in report.html (failures first).")


SUITE_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def suite_name_of(dataset_path: Path) -> str:
    """The suite name of a config's one `dataset`: its file's name without suffix, lower case, other characters
    than a-z, 0-9, _ and - made "-" (data/shopbench.jsonl: shopbench)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", dataset_path.stem.lower()).strip("-_")[:63]
    return name or "suite"


def datasets_fingerprint(fingerprints: Sequence[str | None]) -> str | None:
    """The fingerprint of what a run evaluated: its one dataset's sha256 (as runs recorded it before suites), or
    with several suites the sha256 of theirs in order."""
    if len(fingerprints) == 1:
        return fingerprints[0]
    return hashlib.sha256("\n".join(str(value) for value in fingerprints).encode()).hexdigest()


class SuiteConfig(StrictModel):
    """One suite of a run: a dataset with its own scorers and gate, evaluated against the run's engine."""

    name: str = Field(pattern=SUITE_NAME, description="The suite's name in results, reports and metrics "
                      "(lower case a-z, 0-9, _ and -); unique in the run.")
    dataset: DatasetConfig
    scoring: ScoringConfig = ScoringConfig()
    gate: GateConfig = Field(GateConfig(), description="The suite's checks; its baseline check compares it with the "
                             "same-named suite of the baseline run.")


RUN_WIDE_GATE_KEYS = frozenset({"serving"})  # gate keys of the run itself, beside `suites` (the engine's checks)


class EvalConfig(StrictModel):
    """A whole evaluation run."""

    dataset: DatasetConfig | None = Field(
        None, description="The one dataset of a one-suite run (its suite is named after the file: suite_name_of); "
        "or give `suites`.")
    suites: Annotated[list[SuiteConfig], CountsWhenSet("issue 18: several suites in one run")] = Field(
        default_factory=list, description="Several suites evaluated in one run against the same engine (ShopBench "
        "and general-ability guards), each with its dataset, scoring and gate; one verdict over all of them. "
        "Instead of `dataset`, `scoring` and `gate` (which then holds only the run's own checks: gate.serving).")
    engine: EngineConfig
    serve: ServeConfig = ServeConfig()
    run: RunConfig = RunConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    inference: InferenceConfig = InferenceConfig()
    scoring: ScoringConfig = ScoringConfig()
    statistics: StatisticsConfig = StatisticsConfig()
    diagnostics: DiagnosticsConfig = DiagnosticsConfig()
    gate: GateConfig = GateConfig()
    report: Annotated[ReportConfig, NotFingerprinted("how the results are shown: `ray-eval report` redraws them")] = (
        ReportConfig())
    metrics: Annotated[MetricsConfig, NotFingerprinted("where the run's metrics are exported")] = MetricsConfig()
    ray: Annotated[RayConfig, NotFingerprinted("which cluster runs it, not what it answers")] = RayConfig()

    @model_validator(mode="after")
    def _one_way_to_name_the_datasets(self) -> EvalConfig:
        if (self.dataset is None) == (not self.suites):
            raise ValueError("give either dataset (one suite) or suites (several), not both" if self.suites else
                             "dataset or suites is required")
        if not self.suites:
            return self
        # Keys away from their defaults: a stored config (summary.json, run.json) writes every key out.
        for section, default in (("scoring", ScoringConfig()), ("gate", GateConfig())):
            block = getattr(self, section)
            given = sorted(name for name in type(block).model_fields
                           if name not in RUN_WIDE_GATE_KEYS and getattr(block, name) != getattr(default, name))
            if given:
                raise ValueError(f"{section}.{given[0]}: with suites, each suite has its own {section} block "
                                 f"(suites[i].{section})")
        names = [suite.name for suite in self.suites]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"suites: the name {name!r} is used twice; suite names must be unique")
        judges = {suite.name: (suite.scoring.judge, suite.scoring.open_pass_threshold) for suite in self.suites
                  if suite.scoring.judged_formats}
        if len(set(map(repr, judges.values()))) > 1:
            raise ValueError(f"suites {', '.join(judges)} use the judge with different scoring.judge blocks or "
                             "open_pass_threshold: one judge stage serves the run, give them the same")
        return self

    def evaluated_suites(self) -> list[SuiteConfig]:
        """The run's suites: `suites`, or the one dataset with the top-level scoring and gate."""
        if self.dataset is not None:
            return [SuiteConfig(name=suite_name_of(self.dataset.path), dataset=self.dataset, scoring=self.scoring,
                                gate=self.gate)]
        return self.suites

    @property
    def judge_scoring(self) -> ScoringConfig | None:
        """The scoring block whose judge the run's judge stage is (suites using the judge share one), if any."""
        return next((suite.scoring for suite in self.evaluated_suites() if suite.scoring.judged_formats), None)

    def fingerprint(self) -> str:
        """Hash of what decides the results: every field but those marked NotFingerprinted (config_fingerprint.py)."""
        return fingerprint(self)


Section = TypeVar("Section", bound=BaseModel)


# ---- loading ---------------------------------------------------------------------------------------------------------


def load_config(path: Path | None, overrides: Sequence[str] = (), base: dict[str, Any] | None = None) -> EvalConfig:
    """Read a YAML file (or start from `base`), apply `dotted.key=value` overrides, validate."""
    return load(path, EvalConfig, overrides, base)


def validate_config(data: dict[str, Any], source: str = "config", overrides: Sequence[str] = ()) -> EvalConfig:
    return validate(EvalConfig, data, source, overrides)


def load_section(name: str, model: type[Section], path: Path | None, overrides: Sequence[str] = ()) -> Section:
    """One top-level section (e.g. "statistics", StatisticsConfig) of a config file with `name.x=y` overrides, for
    commands that need no dataset or engine; other keys of the file are ignored, other overrides are refused."""
    if model not in models_in(EvalConfig.model_fields[name].annotation):
        raise TypeError(f"{model.__name__} is not the model of the config's {name!r} section")
    section = {name: (read_config_file(path).get(name) or {}) if path is not None else {}}
    for override in overrides:
        if not override.partition("=")[0].strip().startswith(name + "."):
            raise ConfigError(f"--set {override!r}: only {name}.* applies here")
        apply_override(section, override)
    try:
        return model.model_validate(section[name])
    except ValidationError as exc:
        lines = [describe_error({**error, "loc": (name, *error["loc"])}, EvalConfig) for error in exc.errors()]
        raise ConfigError(f"{path or 'config'} is invalid:\n  " + "\n  ".join(lines)) from None
