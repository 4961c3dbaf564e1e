"""`ray-eval model train-tiny`: the training examples are the evaluation's own questions (a video's frames sampled
as the demo run samples them), the loss is on the answer only, the same seed gives the same weights, and a left-out
subset is never seen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from click.testing import CliRunner  # noqa: E402

from ray_eval.cli import cli, main  # noqa: E402
from ray_eval.config import PromptConfig, load_config  # noqa: E402
from ray_eval.data.taxonomy import AnswerFormat, Subset  # noqa: E402
from ray_eval.demo.synth import synthesize  # noqa: E402
from ray_eval.demo.tiny_model import tiny_model_parts  # noqa: E402
from ray_eval.demo.train_tiny import (  # noqa: E402
    PROVENANCE_FILE,
    TRAINED_PREPROCESS,
    TrainingExample,
    TrainingPlan,
    _batch_inputs,
    answer_target,
    model_inputs,
    train_tiny_model,
    training_samples,
)
from ray_eval.pipeline.prompts import render_prompt  # noqa: E402
from tests.makefile import makefile_variables, recipe_commands  # noqa: E402


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train-data")
    synthesize(out, 40, seed=11)
    return out / "manifest.jsonl"


@pytest.fixture(scope="module")
def processor():
    return tiny_model_parts("qwen3_vl", 0, init_std=0.02, max_image_tokens=64).processor


def test_a_multiple_choice_target_is_the_right_options_text(manifest: Path) -> None:
    samples = training_samples(TrainingPlan(data=manifest))
    mcq = next(sample for sample in samples if sample.format is AnswerFormat.MCQ)
    target = answer_target(mcq)
    assert target == mcq.options["ABCD".index(str(mcq.answer))] and target not in "ABCD"
    formatted = next(sample for sample in samples if sample.format is AnswerFormat.FORMAT)
    assert json.loads(answer_target(formatted)) == formatted.answer


def test_examples_are_the_evaluations_prompts_and_the_loss_falls_on_the_answer_only(manifest: Path,
                                                                                      processor) -> None:
    samples = training_samples(TrainingPlan(data=manifest))
    examples = [TrainingExample.of(sample, processor, PromptConfig()) for sample in samples[:3]]
    sample, example = samples[0], examples[0]
    schema = json.dumps(sample.answer_schema) if sample.answer_schema else None
    assert render_prompt(PromptConfig(), sample.format.value, sample.question, list(sample.options), schema) \
        in example.prompt
    assert example.prompt.endswith("<|im_start|>assistant\n") and len(example.images) == len(sample.media)
    inputs = _batch_inputs(examples, processor)
    tokenizer = processor.tokenizer
    for row, each in enumerate(examples):
        learnt = inputs["input_ids"][row][inputs["labels"][row] != -100]
        assert tokenizer.decode(learnt) == each.target + "<|im_end|>\n"


def test_video_only_when_asked_and_no_left_out_subset_is_trained_on(manifest: Path) -> None:
    every = training_samples(TrainingPlan(data=manifest))
    assert {sample.input_type.value for sample in every} == {"single", "multi"}
    with_video = training_samples(TrainingPlan(data=manifest, video=True))
    assert {sample.input_type.value for sample in with_video} == {"single", "multi", "video"}
    assert [sample for sample in with_video if sample.input_type.value != "video"] == every
    without = training_samples(TrainingPlan(data=manifest, leave_out=(Subset.KITCHEN,)))
    assert Subset.KITCHEN in {sample.subset for sample in every}
    assert Subset.KITCHEN not in {sample.subset for sample in without}
    assert len(without) == len(every) - sum(sample.subset is Subset.KITCHEN for sample in every)


def test_a_video_question_is_trained_on_the_frames_the_demo_run_sends(manifest: Path, processor) -> None:
    samples = training_samples(TrainingPlan(data=manifest, video=True))
    video, still = (next(each for each in samples if each.input_type.value == kind) for kind in ("video", "single"))
    examples = [TrainingExample.of(sample, processor, PromptConfig()) for sample in (video, still)]
    assert examples[0].video == Path(str(video.media[0].path)) and examples[0].images == ()
    assert examples[0].prompt.count("<|video_pad|>") == 1 and "<|image_pad|>" not in examples[0].prompt
    inputs = _batch_inputs(examples, processor)
    # The clip (2.5 to 3 s) sampled at the demo's 2 frames a second: 5 or 6 frames, merged in pairs into 3 steps,
    # each led by its time as the processor writes it for the frame rate vLLM is told.
    steps = int(inputs["video_grid_thw"][0][0])
    assert steps == 3 and inputs["image_grid_thw"].shape[0] == 1
    assert processor.tokenizer.decode(inputs["input_ids"][0]).count(" seconds>") == steps
    for row, each in enumerate(examples):
        learnt = inputs["input_ids"][row][inputs["labels"][row] != -100]
        assert processor.tokenizer.decode(learnt) == each.target + "<|im_end|>\n"


def test_video_frames_are_sampled_as_the_demo_config_samples_them() -> None:
    demo = load_config(CHECKPOINTS.parent / "configs" / "demo.yaml").preprocess
    assert demo.video == TRAINED_PREPROCESS.video and demo.jpeg_quality == TRAINED_PREPROCESS.jpeg_quality


def test_the_same_seed_trains_the_same_weights_and_records_how(manifest: Path, tmp_path: Path) -> None:
    plan = TrainingPlan(data=manifest, steps=3, batch_size=2, leave_out=(Subset.KITCHEN,))
    first = train_tiny_model(plan, tmp_path / "a", progress=lambda line: None)
    train_tiny_model(plan, tmp_path / "b", progress=lambda line: None)
    weights = [(tmp_path / name / "model.safetensors").read_bytes() for name in ("a", "b")]
    assert weights[0] == weights[1]
    record = json.loads((tmp_path / "a" / PROVENANCE_FILE).read_text())
    assert record["plan"]["seed"] == 0 and record["plan"]["steps"] == 3 and record["plan"]["leave_out"] == ["Kitchen"]
    assert record["examples"] == first.examples and "Kitchen" not in record["examples_by_subset"]
    assert len(record["data_sha256"]) == 64


def test_the_command_trains_and_writes_a_model_transformers_loads(manifest: Path, tmp_path: Path) -> None:
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["model", "train-tiny", "--data", str(manifest), "--out", str(out),
                                      "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith(f"wrote {out}: ")
    model = Qwen3VLForConditionalGeneration.from_pretrained(out)
    assert AutoProcessor.from_pretrained(out).image_processor.size["longest_edge"] == 64 * 32 * 32  # 64 tokens
    assert sum(parameter.numel() for parameter in model.parameters()) < 2_000_000


def test_a_second_stage_goes_on_from_a_checkpoint_and_keeps_its_record(manifest: Path, tmp_path: Path) -> None:
    first_plan = TrainingPlan(data=manifest, steps=2, batch_size=2)
    train_tiny_model(first_plan, tmp_path / "first", progress=lambda line: None)
    result = CliRunner().invoke(cli, ["model", "train-tiny", "--data", str(manifest), "--out", str(tmp_path / "second"),
                                      "--start-from", str(tmp_path / "first"), "--steps", "2", "--learning-rate",
                                      "1e-3", "--share", "mcq=1", "--share", "open=0"])
    assert result.exit_code == 0, result.output
    first = json.loads((tmp_path / "first" / PROVENANCE_FILE).read_text())
    second = json.loads((tmp_path / "second" / PROVENANCE_FILE).read_text())
    assert second["started_from"] == first and first["started_from"] is None
    assert second["plan"]["start_from"] == "first" and second["plan"]["learning_rate"] == 1e-3
    assert second["plan"]["format_shares"] == {"mcq": 1.0, "open": 0.0}
    # It went on from the first stage's weights (a fresh start from the same seed would give the first's loss).
    assert second["first_loss"] != first["first_loss"]
    weights = [(tmp_path / name / "model.safetensors").read_bytes() for name in ("first", "second")]
    assert weights[0] != weights[1]


@pytest.mark.parametrize(("arguments", "named"), [
    (["--share", "mcq"], "--share 'mcq': expected FORMAT=SHARE"),
    (["--share", "essay=0.5"], "--share 'essay=0.5': expected FORMAT=SHARE"),
    (["--share", "mcq=-1"], "a share cannot be negative"),
    (["--share", "mcq=0"], "at least one format needs a share above 0"),
    (["--start-from", "."], "not a trained checkpoint (no training.json)"),
])
def test_a_bad_training_argument_is_one_line_naming_it(manifest: Path, tmp_path: Path, arguments: list[str],
                                                       named: str, capsys) -> None:
    code = main(["model", "train-tiny", "--data", str(manifest), "--out", str(tmp_path / "m"), "--steps", "1",
                 *arguments])
    said = capsys.readouterr()
    assert code == 2, said
    assert named in said.err and "Traceback" not in said.err + said.out
    assert len(said.err.strip().splitlines()) == 1 and not (tmp_path / "m").exists()


# ---- the committed demo checkpoints ---------------------------------------------------------------------------------

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


def makefile_stages(name: str, leave_out: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The plan of each train-tiny command of `make demo-checkpoint NAME=name LEAVE_OUT=leave_out`, in order, as
    training.json records it (what a command leaves out takes TrainingPlan's default), and each command's --out."""
    commands = recipe_commands("demo-checkpoint", {"NAME": name, "LEAVE_OUT": leave_out,
                                                   "TRAIN_DATA": makefile_variables()["TRAIN_DATA"]})
    plans, outs = [], []
    for words in commands:
        assert words[:3] == ["ray-eval", "model", "train-tiny"], words
        valued = [word for word in words[3:] if word != "--video"]  # the one flag; every other option has a value
        options: dict[str, list[str]] = {}
        for option, value in zip(valued[::2], valued[1::2], strict=True):
            options.setdefault(option, []).append(value)
        default = TrainingPlan(data=Path("manifest.jsonl"))
        shares = [each.partition("=") for each in options.get("--share", [])]
        plans.append({
            "steps": int(options.get("--steps", [default.steps])[0]),
            "learning_rate": float(options.get("--learning-rate", [default.learning_rate])[0]),
            "format_shares": {key: float(value) for key, _, value in shares}
            or {each.value: share for each, share in default.format_shares},
            "leave_out": options.get("--leave-out", []),
            "video": "--video" in words,
            "start_from": Path(options["--start-from"][0]).name if "--start-from" in options else None})
        outs.append(options["--out"][0])
    return plans, outs


@pytest.mark.parametrize(("name", "leave_out"),
                         [("tiny-shop-vl", ""), ("tiny-shop-vl-no-kitchen", "--leave-out Kitchen")])
def test_a_committed_checkpoint_loads_in_transformers_and_was_made_by_the_makefiles_stages(name: str,
                                                                                           leave_out: str) -> None:
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    folder = CHECKPOINTS / name
    record = json.loads((folder / PROVENANCE_FILE).read_text())
    stages = []
    while record is not None:  # the last stage's record holds the one it started from, and so on
        stages.insert(0, record)
        record = record.get("started_from")
    expected, outs = makefile_stages(name, leave_out)
    assert outs[-1] == f"checkpoints/{name}" and len(stages) == len(expected)
    for stage, plan in zip(stages, expected, strict=True):
        recorded = {"video": False, **stage["plan"]}  # a stage recorded before --video was trained on stills only
        assert {key: recorded.get(key) for key in plan} == plan
        assert stage["plan"]["seed"] == 0 and stage["plan"]["data"] == "manifest.jsonl"
        assert ("Kitchen" in stage["examples_by_subset"]) != bool(leave_out)
        assert stage["data_sha256"] == stages[0]["data_sha256"]  # every stage read the same synthetic set
    assert (folder / "model.safetensors").stat().st_size < 5 * 2**20
    model = Qwen3VLForConditionalGeneration.from_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    assert sum(parameter.numel() for parameter in model.parameters()) < 2_000_000
    assert processor.image_processor.size["longest_edge"] == stages[-1]["plan"]["image_tokens"] * 32 * 32


def test_the_demo_model_answers_held_back_questions_as_it_was_trained_to(tmp_path: Path) -> None:
    """Greedy answers of the committed demo model (transformers, not vLLM) to held-back questions of the seed
    `make demo` evaluates, video ones included: every format answer is a JSON object; multiple-choice answers are
    option texts, which the choice scorer reads as options (where the model names one of the four: not always, see
    checkpoints/README.md)."""
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    from ray_eval.scoring.choice import extract_choice

    folder = CHECKPOINTS / "tiny-shop-vl"
    model = Qwen3VLForConditionalGeneration.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    synthesize(tmp_path, 30, seed=0)
    samples = [sample for sample in training_samples(TrainingPlan(data=tmp_path / "manifest.jsonl", video=True))
               if sample.format is not AnswerFormat.OPEN]
    assert any(sample.input_type.value == "video" for sample in samples)
    chosen = []
    for sample in samples:
        example = TrainingExample.of(sample, processor, PromptConfig())
        inputs = model_inputs([example.prompt], [example], processor)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=128, do_sample=False)
        answer = processor.tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        if sample.format is AnswerFormat.MCQ:
            assert answer.strip() not in "ABCD", answer  # an option's text, never a bare letter
            chosen.append(extract_choice(answer, list(sample.options)))
        else:
            assert isinstance(json.loads(answer), dict), (sample.question, answer)
    assert len(chosen) >= 5 and any(choice is not None for choice in chosen)
