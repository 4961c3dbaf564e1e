"""Turn scenes and questions into a ShopBench-format dataset on disk: manifest.jsonl plus media/.

Generation streams: one scene is made, drawn, written and forgotten before the next, and the manifest is written
line by line, so memory stays flat for any n (100,000 samples is about 33,000 scenes). Each sample's scene, question
and media follow from (seed, position) alone (see plan.py), so the same (n, seed) writes byte-identical files and a
smaller n writes a prefix of a larger one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ray_eval.data.taxonomy import SUBSET_INPUT_TYPE, AnswerFormat, Subset
from ray_eval.demo.synth import plan
from ray_eval.demo.synth.draw_stills import draw_kitchen, draw_shelf_change, draw_shop_front, draw_shop_interior
from ray_eval.demo.synth.draw_video import door_frames, encode_mp4, walker_frames
from ray_eval.demo.synth.question_kit import Question, Topic, as_mcq, as_open
from ray_eval.demo.synth.questions_kitchen import kitchen_format, kitchen_topics
from ray_eval.demo.synth.questions_motion import (
    door_format,
    door_topics,
    shelf_change_format,
    shelf_change_topics,
    walker_format,
    walker_topics,
)
from ray_eval.demo.synth.questions_shop import (
    shop_front_format,
    shop_front_topics,
    shop_interior_format,
    shop_interior_topics,
)
from ray_eval.demo.synth.scenes import (
    SCENE_SUBSET,
    DoorVideoScene,
    KitchenScene,
    Scene,
    ShelfChangeScene,
    ShopFrontScene,
    ShopInteriorScene,
    WalkerVideoScene,
    make_scene,
)
from ray_eval.demo.synth.vocab import EN, ZH

MANIFEST_NAME = "manifest.jsonl"
MEDIA_DIR = "media"
# A MultiImg scene writes 2 files, so 500 scenes per folder keeps every folder at 1,000 files or fewer.
SCENES_PER_SHARD = 500
JPEG_QUALITY = 85

ID_PREFIX: dict[Subset, str] = {
    Subset.SHOP_FRONT: "sf",
    Subset.SHOP_INTERIOR: "si",
    Subset.KITCHEN: "kt",
    Subset.MULTI_IMG: "mi",
    Subset.VIDEO: "vd",
}

TopicsBuilder = Callable[[Any, random.Random], list[Topic]]
FormatBuilder = Callable[[Any, str], Question]
QUESTION_BUILDERS: dict[type, tuple[TopicsBuilder, FormatBuilder]] = {
    ShopFrontScene: (shop_front_topics, shop_front_format),
    ShopInteriorScene: (shop_interior_topics, shop_interior_format),
    KitchenScene: (kitchen_topics, kitchen_format),
    ShelfChangeScene: (shelf_change_topics, shelf_change_format),
    DoorVideoScene: (door_topics, door_format),
    WalkerVideoScene: (walker_topics, walker_format),
}


@dataclass(frozen=True)
class SynthSummary:
    """What synthesize() wrote. The count dicts list every subset and format, zero counts included."""

    out_dir: str
    manifest: str
    n: int
    seed: int
    scenes: int
    by_subset: dict[str, int]
    by_format: dict[str, int]
    by_language: dict[str, int]
    critical: int
    media_files: int
    media_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SynthSample:
    """One generated sample before anything is written: where it sits, its scene, its question, its manifest row."""

    index: int
    scene_index: int
    slot: int
    scene: Scene
    question: Question
    row: dict[str, Any]  # the manifest line; media paths relative to the dataset folder


def scene_subset(scene: Scene) -> Subset:
    return SCENE_SUBSET[type(scene)]


def media_paths(scene: Scene) -> list[tuple[str, str]]:
    """(kind, path relative to the dataset folder) of each media file of a scene, in question order."""
    subset = scene_subset(scene)
    stem = f"{MEDIA_DIR}/{scene.index // SCENES_PER_SHARD:03d}/{ID_PREFIX[subset]}-{scene.index:06d}"
    if subset is Subset.VIDEO:
        return [("video", f"{stem}.mp4")]
    if subset is Subset.MULTI_IMG:
        return [("image", f"{stem}-1.jpg"), ("image", f"{stem}-2.jpg")]
    return [("image", f"{stem}.jpg")]


def scene_questions(scene: Scene, seed: int) -> dict[AnswerFormat, tuple[Topic | None, Callable[[str], Question]]]:
    """For each format, the topic asked (None for format questions) and a function of the language that asks it.

    The mcq and the open question of a scene ask about different facts. Topics, the picks and the option order use
    RNGs derived from (seed, scene), never from other scenes or other slots.
    """
    topics_builder, format_builder = QUESTION_BUILDERS[type(scene)]
    rng = random.Random(f"shopbench-synth/questions/{seed}/{scene.index}")
    topics = topics_builder(scene, rng)
    mcq_topic = rng.choice([t for t in topics if t.mcq_ok])
    open_topic = rng.choice([t for t in topics if t.open_ok and t.name != mcq_topic.name])
    shuffle_seed = f"shopbench-synth/options/{seed}/{scene.index}"
    return {
        AnswerFormat.MCQ: (mcq_topic, lambda lang: as_mcq(mcq_topic, lang, random.Random(shuffle_seed))),
        AnswerFormat.OPEN: (open_topic, lambda lang: as_open(open_topic, lang)),
        AnswerFormat.FORMAT: (None, lambda lang: format_builder(scene, lang)),
    }


def sample_id(scene: Scene, answer_format: AnswerFormat) -> str:
    return f"{ID_PREFIX[scene_subset(scene)]}-{scene.index:06d}-{answer_format.value}"


def manifest_row(scene: Scene, question: Question) -> dict[str, Any]:
    subset = scene_subset(scene)
    row: dict[str, Any] = {
        "id": sample_id(scene, question.format),
        "subset": subset.value,
        "format": question.format.value,
        "input_type": SUBSET_INPUT_TYPE[subset].value,
        "question": question.text,
    }
    if question.options:
        row["options"] = list(question.options)
    row["answer"] = question.answer
    if question.schema is not None:
        row["schema"] = question.schema
    row["media"] = [{"type": kind, "path": path} for kind, path in media_paths(scene)]
    row["labels"] = dict(zip(("l1", "l2", "l3", "l4"), question.labels, strict=True))
    row["weight"] = question.weight
    row["critical"] = question.critical
    return row


def iter_samples(n: int, seed: int = 0) -> Iterator[SynthSample]:
    """The n samples of the set in manifest order, without drawing or writing anything.

    A scene is built once and reused for its consecutive questions; only the current scene is held.
    """
    scene: Scene | None = None
    asked: dict[AnswerFormat, tuple[Topic | None, Callable[[str], Question]]] = {}
    for index in range(n):
        scene_index, slot = plan.locate(index)
        if scene is None or scene.index != scene_index:
            scene = make_scene(seed, scene_index)
            asked = scene_questions(scene, seed)
        answer_format = plan.format_of(scene_index, slot)
        question = asked[answer_format][1](ZH if plan.is_chinese(index) else EN)
        yield SynthSample(index, scene_index, slot, scene, question, manifest_row(scene, question))


def write_media(scene: Scene, out_dir: Path) -> list[Path]:
    """Draw a scene and write its media files under out_dir; returns the files written."""
    paths = [out_dir / rel for _, rel in media_paths(scene)]
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    if isinstance(scene, DoorVideoScene):
        encode_mp4(door_frames(scene), paths[0])
        return paths
    if isinstance(scene, WalkerVideoScene):
        encode_mp4(walker_frames(scene), paths[0])
        return paths
    if isinstance(scene, ShelfChangeScene):
        images = list(draw_shelf_change(scene))
    elif isinstance(scene, ShopFrontScene):
        images = [draw_shop_front(scene)]
    elif isinstance(scene, ShopInteriorScene):
        images = [draw_shop_interior(scene)]
    else:
        images = [draw_kitchen(scene)]
    for image, path in zip(images, paths, strict=True):
        image.save(path, "JPEG", quality=JPEG_QUALITY)
    return paths


def synthesize(out_dir: Path, n: int, seed: int = 0, *, overwrite: bool = False) -> SynthSummary:
    """Write n samples to out_dir/manifest.jsonl and their media under out_dir/media/.

    Refuses a folder that already holds a manifest or media (stale files from a larger run would survive) unless
    overwrite is set, in which case those two, and only those, are removed first. The manifest is written under a
    temporary name and renamed at the end, so an interrupted run never leaves a manifest that looks complete.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}")
    out_dir = Path(out_dir)
    manifest = out_dir / MANIFEST_NAME
    media = out_dir / MEDIA_DIR
    if manifest.exists() or media.exists():
        if not overwrite:
            raise FileExistsError(f"{out_dir} already holds {MANIFEST_NAME} or {MEDIA_DIR}/; pass overwrite=True")
        manifest.unlink(missing_ok=True)
        shutil.rmtree(media, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)

    by_subset = Counter({s.value: 0 for s in Subset})
    by_format = Counter({f.value: 0 for f in AnswerFormat})
    by_language = Counter({EN: 0, ZH: 0})
    critical = media_files = media_bytes = 0
    partial = manifest.with_name(MANIFEST_NAME + ".partial")
    with partial.open("w", encoding="utf-8", newline="\n") as lines:
        for sample in iter_samples(n, seed):
            if sample.slot == 0:  # a scene's first question always comes first in the manifest: draw it now
                for path in write_media(sample.scene, out_dir):
                    media_files += 1
                    media_bytes += path.stat().st_size
            lines.write(json.dumps(sample.row, ensure_ascii=False) + "\n")
            by_subset[sample.row["subset"]] += 1
            by_format[sample.row["format"]] += 1
            by_language[sample.question.lang] += 1
            critical += sample.question.critical
    os.replace(partial, manifest)
    return SynthSummary(
        out_dir=str(out_dir),
        manifest=str(manifest),
        n=n,
        seed=seed,
        scenes=plan.scene_count(n),
        by_subset=dict(by_subset),
        by_format=dict(by_format),
        by_language=dict(by_language),
        critical=critical,
        media_files=media_files,
        media_bytes=media_bytes,
    )
