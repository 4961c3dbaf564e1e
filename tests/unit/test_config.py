"""One strict config tree: unknown keys and bad values are errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_eval.config import OpenAIEngineConfig, RunConfig, ScriptedEngineConfig, apply_override, load_config
from ray_eval.config_loading import StrictModel, load
from ray_eval.engine_config import EngineConfig
from ray_eval.errors import ConfigError

MINIMAL = """
dataset: {path: data/m.jsonl}
engine: {kind: openai, base_url: "http://127.0.0.1:8000/v1", model: ostrakon-vl-8b}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "eval.yaml"
    path.write_text(text)
    return path


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert isinstance(config.engine, OpenAIEngineConfig) and config.engine.model == "ostrakon-vl-8b"
    assert config.preprocess.max_pixels == 602_112 and config.preprocess.video.fps == 2.0
    assert config.inference.sampling.temperature == 0.0 and config.dataset.invalid_rows == "refuse"


def test_overrides_parse_yaml_values_and_create_levels(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), [
        "gate.min_pass_rate=0.9", "gate.subsets.Kitchen.min_score=55", "inference.sampling.seed=null",
    ])
    assert config.gate.min_pass_rate == 0.9 and config.gate.subsets["Kitchen"].min_score == 55
    assert config.inference.sampling.seed is None
    swapped = load_config(None, ["dataset.path=x.jsonl", "engine.kind=scripted", "engine.accuracy=0.5"])
    assert isinstance(swapped.engine, ScriptedEngineConfig) and swapped.engine.accuracy == 0.5
    with pytest.raises(ConfigError, match="engine.base_url: unknown field for this engine kind"):
        load_config(write(tmp_path, MINIMAL), ["engine.kind=scripted"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("run: {outdir: x}", "run.outdir: unknown field (did you mean 'out_dir'?)"),
        ("preprocess: {video: {fsp: 3}}", "preprocess.video.fsp: unknown field (did you mean 'fps'?)"),
        ("gate: {min_pass_rate: 1.5}", "gate.min_pass_rate: Input should be less than or equal to 1 (got 1.5)"),
        ("gate: {subsets: {Garage: {min_score: 1}}}", "gate.subsets.Garage: Input should be 'ShopFront'"),
        ("inference: {actors: 0}", "inference.actors: Input should be greater than or equal to 1"),
        ("scoring: {scorers: {essay: token_f1}}", "scoring.scorers.essay"),
        ("run: {run_id: '../escape'}", "run.run_id: String should match pattern"),
        ("scoring: {scorers: {open: judge}}", "scorer 'judge' for open needs a scoring.judge block"),
        ("scoring: {scorers: {mcq: judge}, judge: {engine: {kind: openai, base_url: u, model: j}}}",
         "scorer 'judge' scores open answers only"),
        ("scoring: {judge: {engine: {kind: openai, base_url: u, model: j, key: k}}}",
         "scoring.judge.engine.key: unknown field"),
        ("scoring: {scorers: {open: token_f1_cosine}}", "needs scoring.embedding_model"),
        ("statistics: {confidence: 0.3}", "statistics.confidence: Input should be greater than 0.5"),
        ("gate: {baseline: {max_regression: 1}}", "gate.baseline.run_dir: Field required"),
    ],
)
def test_bad_values_name_their_field(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL + extra))
    assert message in str(info.value)


def test_engine_fields_are_checked_per_kind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "dataset: {path: x}\nengine: {kind: openai, model: m, timout_s: 3}\n"))
    text = str(info.value)
    assert "engine.base_url: Field required" in text
    assert "engine.timout_s: unknown field (did you mean 'timeout_s'?)" in text
    with pytest.raises(ConfigError, match="engine: Input tag 'grpc'"):
        load_config(write(tmp_path, "dataset: {path: x}\nengine: {kind: grpc}\n"))


def test_file_problems_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "dataset: [unclosed"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="expected dotted.key=value"):
        load_config(write(tmp_path, MINIMAL), ["gate.min_pass_rate"])
    with pytest.raises(ConfigError, match="dataset.path is not a mapping"):
        load_config(write(tmp_path, MINIMAL), ["dataset.path.x=1"])


def test_set_fills_a_null_section_and_refuses_a_value_in_the_way() -> None:
    """A stored config holds `gate: {baseline: null}`: `--set gate.baseline.run_dir=...` must make it a mapping (the
    re-gating route of docs/concepts/gate.md); a section holding a value other than null is still an error naming
    --set."""
    stored = {"gate": {"baseline": None, "min_score": 50}}
    apply_override(stored, "gate.baseline.run_dir=runs/a")
    assert stored == {"gate": {"baseline": {"run_dir": "runs/a"}, "min_score": 50}}
    with pytest.raises(ConfigError, match=r"^--set 'gate.min_score.x=1': gate.min_score is not a mapping$"):
        apply_override(stored, "gate.min_score.x=1")
    with pytest.raises(ConfigError, match="gate.baseline.run_dir is not a mapping"):
        apply_override(stored, "gate.baseline.run_dir.x=1")


def test_fingerprint_ignores_where_results_go(tmp_path: Path) -> None:
    base = load_config(write(tmp_path, MINIMAL))
    elsewhere = load_config(write(tmp_path, MINIMAL), ["run.out_dir=elsewhere", "run.run_id=r1"])
    assert base.fingerprint() == elsewhere.fingerprint()
    assert base.fingerprint() != load_config(write(tmp_path, MINIMAL),
                                             ["inference.sampling.max_tokens=9"]).fingerprint()


def test_a_resume_may_be_more_patient_with_the_engine(tmp_path: Path) -> None:
    """After an outage longer than the retry window, `--resume --retry-errors --set engine.retry_window_s=600` is the
    same run: how patiently the engine is asked does not decide its answers."""
    base = load_config(write(tmp_path, MINIMAL))
    patient = load_config(write(tmp_path, MINIMAL), ["engine.retry_window_s=600", "engine.timeout_s=300",
                                                     "engine.max_retries=20", "engine.backoff_max_s=5"])
    assert base.fingerprint() == patient.fingerprint()
    assert base.engine.retry_window_s == 60 and base.engine.max_retries is None  # ride out a minute, however many tries


def test_naming_one_format_scorer_keeps_the_others_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + "scoring: {scorers: {open: exact_match}}"))
    assert {fmt.value: name for fmt, name in config.scoring.scorers.items()} == {
        "mcq": "choice", "format": "structured", "open": "exact_match"}


# ---- the loader is generic over the root model (the canary's tree uses it too) -----------------------------------


class Probe(StrictModel):
    """A root model of a test's own, with a block, a discriminated union and a note for keys of another tree."""

    name: str = "probe"
    engine: EngineConfig
    run: RunConfig = RunConfig()

    @classmethod
    def unknown_key_note(cls, key: str) -> str:
        return " (a key of another tree)" if key == "gate" else ""


def test_any_root_model_loads_with_overrides_and_one_line_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "name: p1\nengine: {kind: scripted}\n")
    loaded = load(path, Probe, ["run.run_id=r1", "engine.accuracy=0.5"])
    assert (loaded.name, loaded.run.run_id, loaded.engine.accuracy) == ("p1", "r1", 0.5)
    with pytest.raises(ConfigError) as info:
        load(path, Probe, ["engine.base_url=http://x/v1"])
    assert str(info.value) == "--set engine.base_url=http://x/v1: engine.base_url: unknown field for this engine kind"
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, "nmae: p\nengine: {kind: openai, model: m, timout_s: 3}\ngate: {}\n"), Probe)
    assert str(info.value).splitlines() == [
        f"{tmp_path / 'eval.yaml'} is invalid:", "  engine.base_url: Field required",
        "  engine.timout_s: unknown field (did you mean 'timeout_s'?)",
        "  nmae: unknown field (did you mean 'name'?)", "  gate: unknown field (a key of another tree)"]
