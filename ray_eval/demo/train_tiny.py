"""`ray-eval model train-tiny`: teach the tiny Qwen3-VL to answer synthetic ShopBench questions, on a CPU.

The random-weight model shows that the stack runs; a model that answers shows what the product is for: telling a
better checkpoint from a worse one. Nothing can be downloaded, so the project trains its own, the way the evaluation
asks its questions:
  * the evaluation's own prompts (pipeline.prompts.render_prompt) in the model's own chat template (the one vLLM
    applies), media before the text, images at the model's own pixel budget (TRAINED_IMAGE_TOKENS);
  * the loss on the answer only; still images (single and before/after pairs), and video questions in a stage that
    asks for them (--video), their frames sampled as the demo run samples them (TRAINED_PREPROCESS) and given to
    the processor with the frame rate vLLM is told, so the model reads the same timestamps;
  * a multiple-choice question's target is the right OPTION'S TEXT, not its letter. A model of 1 M parameters trained
    for minutes learns picture -> word but not picture -> word -> shuffled letter (measured: letter targets stay at
    chance, a constant letter); the choice scorer reads an option's text as that option, as it does when a real
    model answers "Red" instead of "B".
Deterministic for a seed on one machine (weights drawn from a seeded generator, a seeded sample order, a fixed
thread count); CPU kernels may round differently on another machine.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ray_eval.config import PreprocessConfig, PromptConfig, VideoConfig
from ray_eval.data.dataset import file_sha256
from ray_eval.data.readers import open_reader
from ray_eval.data.taxonomy import AnswerFormat, InputType, MediaKind, Subset
from ray_eval.demo.tiny_model import save_model, tiny_model_parts
from ray_eval.errors import UsageError
from ray_eval.outputs.summary import package_versions
from ray_eval.pipeline.prompts import render_prompt
from ray_eval.records import Sample

TRAINED_INIT_STD = 0.02  # the usual init: the smoke model's 0.3 makes answers depend on the input, training needs none
TRAINED_IMAGE_TOKENS = 64  # 256 x 256 pixels: a signboard's colour and a shelf's layout survive, small text does not
STILL_INPUT_TYPES = (InputType.SINGLE, InputType.MULTI)
# A video's frames as configs/demo.yaml samples them (a test holds the two equal): 2 per second, at most 8, JPEG 90,
# the frame rate told to vLLM (else it assumes 1 fps, and the frames' timestamps the model reads would differ).
TRAINED_PREPROCESS = PreprocessConfig(video=VideoConfig(fps=2, max_frames=8, send_media_io_kwargs=True))
PROVENANCE_FILE = "training.json"


@dataclass(frozen=True)
class TrainingPlan:
    """What to train on and how; stored in the checkpoint's training.json with what came of it."""

    data: Path  # a manifest.jsonl of synthetic samples (ray-eval dataset synth), never the held-back set's seed
    seed: int = 0
    steps: int = 4000  # the committed checkpoints' first stage: about 32 minutes on 2 cores
    batch_size: int = 8
    learning_rate: float = 2e-3
    threads: int = 2  # torch's intra-op threads: another count may round differently, so it is part of the recipe
    leave_out: tuple[Subset, ...] = ()  # subsets never shown: a checkpoint with a known defect
    # A checkpoint this one goes on from (a second stage of training), or None for fresh weights drawn from the seed.
    # Its training.json is kept in this one's, so a checkpoint records every stage that made it.
    start_from: Path | None = None
    image_tokens: int = TRAINED_IMAGE_TOKENS
    # How often each answer format is drawn. A format question costs about four of the others (its prompt carries a
    # JSON schema: ~700 tokens against ~190), and the picture-to-word skills multiple-choice and open questions
    # share are what the minutes buy.
    format_shares: tuple[tuple[AnswerFormat, float], ...] = (
        (AnswerFormat.MCQ, 0.45), (AnswerFormat.OPEN, 0.35), (AnswerFormat.FORMAT, 0.2))
    # Video questions too, or still images only. The committed checkpoints' first four stages were trained before
    # this option existed, on still images; their fifth adds the video questions.
    video: bool = False

    @property
    def input_types(self) -> tuple[InputType, ...]:
        return (*STILL_INPUT_TYPES, InputType.VIDEO) if self.video else STILL_INPUT_TYPES


@dataclass(frozen=True)
class TrainingExample:
    """One question as the evaluation asks it, with the answer the model learns to give."""

    prompt: str  # the chat-templated user turn, ending where the assistant's answer begins
    images: tuple[Path, ...]
    target: str
    video: Path | None = None  # a video question's clip (a sample has images or one video, never both)

    @classmethod
    def of(cls, sample: Sample, processor: Any, prompts: PromptConfig) -> TrainingExample:
        schema = json.dumps(sample.answer_schema) if sample.answer_schema else None
        text = render_prompt(prompts, sample.format.value, sample.question, list(sample.options), schema)
        content = [{"type": media.kind.value} for media in sample.media] + [{"type": "text", "text": text}]
        prompt = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                               tokenize=False)
        images = tuple(Path(media.path or "") for media in sample.media if media.kind is MediaKind.IMAGE)
        videos = [Path(media.path or "") for media in sample.media if media.kind is MediaKind.VIDEO]
        return cls(prompt, images, answer_target(sample), videos[0] if videos else None)


def answer_target(sample: Sample) -> str:
    """What the model learns to answer: an option's text for a multiple-choice question (see the module's note)."""
    if sample.format is AnswerFormat.MCQ:
        return sample.options[ord(str(sample.answer)) - ord("A")]
    if isinstance(sample.answer, dict):
        return json.dumps(sample.answer, ensure_ascii=False)
    return sample.answer


@dataclass(frozen=True)
class TrainingResult:
    """What training.json records beside the plan: the data it saw, the loss it reached, the time it took."""

    plan: dict[str, Any]
    data_sha256: str
    examples: int
    examples_by_subset: dict[str, int]
    first_loss: float
    final_loss: float  # the mean over the last 50 steps
    seconds: float
    versions: dict[str, str | None] = field(default_factory=dict)
    started_from: dict[str, Any] | None = None  # the training.json of plan.start_from: the earlier stages


def parse_shares(texts: Sequence[str]) -> tuple[tuple[AnswerFormat, float], ...]:
    """`mcq=0.8`-style texts as TrainingPlan.format_shares; a bad one raises UsageError naming it."""
    shares = []
    for text in texts:
        name, _, value = text.partition("=")
        try:
            shares.append((AnswerFormat(name.strip()), float(value)))
        except ValueError:
            raise UsageError(f"--share {text!r}: expected FORMAT=SHARE with FORMAT one of "
                             f"{[each.value for each in AnswerFormat]} and SHARE a number") from None
        if shares[-1][1] < 0:
            raise UsageError(f"--share {text!r}: a share cannot be negative")
    if sum(share for _, share in shares) <= 0:
        raise UsageError("--share: at least one format needs a share above 0")
    return tuple(shares)


def training_samples(plan: TrainingPlan) -> list[Sample]:
    """The manifest's samples of the plan's input types outside the left-out subsets, in file order."""
    reader = open_reader(plan.data)
    samples = [reader.to_sample(raw) for chunk in reader.chunks(10_000) for raw in reader.read_chunk(chunk)]
    return [sample for sample in samples
            if sample.input_type in plan.input_types and sample.subset not in plan.leave_out]


def train_tiny_model(plan: TrainingPlan, out_dir: Path, progress: Callable[[str], None] = print) -> TrainingResult:
    """Train the tiny Qwen3-VL by `plan` and write it, with its training.json, to `out_dir`."""
    import torch

    torch.manual_seed(plan.seed)
    torch.set_num_threads(plan.threads)
    model, processor, started_from = _starting_model(plan)
    samples = training_samples(plan)
    if not samples:
        raise UsageError(f"{plan.data}: no {'' if plan.video else 'still-image '}samples to train on outside "
                         f"{[subset.value for subset in plan.leave_out]}")
    examples = [TrainingExample.of(sample, processor, PromptConfig()) for sample in samples]
    optimizer = torch.optim.AdamW(model.parameters(), lr=plan.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=plan.learning_rate, total_steps=plan.steps,
                                                   pct_start=0.05)
    batches = _batches([sample.format for sample in samples], plan, random.Random(plan.seed))
    model.train()
    losses: list[float] = []
    started = time.monotonic()
    for step in range(plan.steps):
        loss = model(**_batch_inputs([examples[i] for i in next(batches)], processor)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        schedule.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == plan.steps - 1:
            progress(f"step {step + 1}/{plan.steps}: loss {losses[-1]:.3f} ({time.monotonic() - started:.0f} s)")
    model.eval()
    save_model(model, processor, out_dir)
    result = TrainingResult(
        plan=_plan_record(plan), data_sha256=file_sha256(plan.data), examples=len(examples),
        examples_by_subset=_count_subsets(samples), first_loss=round(losses[0], 4),
        final_loss=round(sum(losses[-50:]) / len(losses[-50:]), 4), seconds=round(time.monotonic() - started, 1),
        versions=package_versions(("torch", "transformers")), started_from=started_from)
    (Path(out_dir) / PROVENANCE_FILE).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def _starting_model(plan: TrainingPlan) -> tuple[Any, Any, dict[str, Any] | None]:
    """Fresh weights from the seed, or plan.start_from's weights and processor with that checkpoint's record."""
    if plan.start_from is None:
        parts = tiny_model_parts("qwen3_vl", plan.seed, init_std=TRAINED_INIT_STD, max_image_tokens=plan.image_tokens)
        return parts.model, parts.processor, None
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    record = plan.start_from / PROVENANCE_FILE
    if not record.is_file():
        raise UsageError(f"{plan.start_from}: not a trained checkpoint (no {PROVENANCE_FILE})")
    started_from = json.loads(record.read_text())
    if started_from["plan"]["image_tokens"] != plan.image_tokens:
        raise UsageError(f"{plan.start_from}: trained at {started_from['plan']['image_tokens']} image tokens, "
                         f"this plan says {plan.image_tokens}")
    model = Qwen3VLForConditionalGeneration.from_pretrained(plan.start_from)
    return model, AutoProcessor.from_pretrained(plan.start_from), started_from


def _batches(formats: Sequence[AnswerFormat], plan: TrainingPlan, rng: random.Random):
    """Batches of example indices, forever: each slot draws an answer format by plan.format_shares, then the next
    example of that format, each format's examples passed over in a new seeded order every time."""
    indices = {answer_format: [i for i, each in enumerate(formats) if each is answer_format]
               for answer_format, _ in plan.format_shares}
    drawn = [(answer_format, share) for answer_format, share in plan.format_shares if indices[answer_format]]
    orders: dict[AnswerFormat, list[int]] = {answer_format: [] for answer_format, _ in drawn}
    while True:
        batch = []
        for answer_format in rng.choices([each for each, _ in drawn], [share for _, share in drawn], k=plan.batch_size):
            if not orders[answer_format]:
                orders[answer_format] = list(indices[answer_format])
                rng.shuffle(orders[answer_format])
            batch.append(orders[answer_format].pop())
        yield batch


def _batch_inputs(batch: Sequence[TrainingExample], processor: Any) -> dict[str, Any]:
    """The processor's tensors for prompt + answer, right-padded, with labels on the answer tokens only."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "right"
    inputs = model_inputs([example.prompt + example.target + "<|im_end|>\n" for example in batch], batch, processor)
    labels = inputs["input_ids"].clone()
    # The answer starts after the last "<|im_start|>assistant\n": the prompt's own tokens, images included, carry no
    # loss (counting them in the processor's output is exact; re-tokenising the prompt alone would cost a second pass).
    assistant_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    header = 1 + len(tokenizer("assistant\n")["input_ids"])
    for row in range(len(batch)):
        starts = (inputs["input_ids"][row] == assistant_start).nonzero().flatten()
        labels[row, : int(starts[-1]) + header] = -100
    labels[inputs["attention_mask"] == 0] = -100
    inputs["labels"] = labels
    return inputs


def model_inputs(texts: Sequence[str], examples: Sequence[TrainingExample], processor: Any) -> dict[str, Any]:
    """The processor's tensors for `texts` (each example's prompt, with or without its answer) and the examples'
    media: images as files, a video as the frames the evaluation would send."""
    from PIL import Image

    images = [Image.open(path).convert("RGB") for example in examples for path in example.images]
    videos = [_video_frames(example.video) for example in examples if example.video is not None]
    media: dict[str, Any] = {"images": images} if images else {}
    if videos:
        media.update(videos=[frames for frames, _ in videos], video_metadata=[metadata for _, metadata in videos],
                     do_sample_frames=False)
    return processor(text=list(texts), padding=True, return_tensors="pt", **media)


def _video_frames(path: Path) -> tuple[Any, Any]:
    """A clip's frames as the demo run sends them (sampled, JPEG-encoded) and the metadata vLLM gives the processor
    for such frames (vllm.multimodal.media.video: the told frame rate, each frame its own index)."""
    import io

    import numpy as np
    from PIL import Image
    from transformers.video_utils import VideoMetadata

    from ray_eval.pipeline.media import effective_fps, rgb, sample_video

    settings = TRAINED_PREPROCESS.video
    video = sample_video(path.read_bytes(), str(path), fps=settings.fps, max_frames=settings.max_frames,
                         max_pixels=settings.max_pixels_per_frame, quality=TRAINED_PREPROCESS.jpeg_quality,
                         min_frames=settings.min_frames)
    frames = np.stack([np.asarray(rgb(Image.open(io.BytesIO(frame.data)))) for frame in video.frames])
    fps = effective_fps(video.timestamps, settings.fps)
    return frames, VideoMetadata(total_num_frames=len(frames), fps=fps, duration=len(frames) / fps,
                                 frames_indices=list(range(len(frames))), video_backend="jpeg_sequence")


def _plan_record(plan: TrainingPlan) -> dict[str, Any]:
    record = asdict(plan)
    record["data"] = plan.data.name
    record["leave_out"] = [subset.value for subset in plan.leave_out]
    record["start_from"] = plan.start_from.name if plan.start_from else None
    record["format_shares"] = {answer_format.value: share for answer_format, share in plan.format_shares}
    return record


def _count_subsets(samples: Sequence[Sample]) -> dict[str, int]:
    return dict(sorted(Counter(sample.subset.value if sample.subset else "none" for sample in samples).items()))
