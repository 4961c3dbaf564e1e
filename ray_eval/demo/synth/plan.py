"""Where each sample of a synthetic set comes from: its scene, its subset, its answer format and its language.

The plan is a pure function of the sample's position, independent of n and of the seed, so
  * a set of n samples is a prefix of any larger set with the same seed (same ids, same bytes);
  * any sample can be located without generating the ones before it (streaming, order-independent);
  * the subset/format make-up of a set depends on n only; the seed changes the content (names, colours, ...).

Every scene carries QUESTIONS_PER_SCENE questions, one per answer format, all sharing the scene's media (ShopBench
clusters several questions on one image too). The first COVERAGE_SCENES scenes are one per subset and their
questions are interleaved, so that
  * the first 5 samples already hold all five subsets and all three formats (MIN_N_ALL_SUBSETS_AND_FORMATS), and
  * the first 15 hold every (subset, format) pair (MIN_N_ALL_PAIRS).
After that, scenes follow one another (3 consecutive samples per scene) and their subsets follow ShopBench's split.
"""

from __future__ import annotations

from ray_eval.data.taxonomy import AnswerFormat, Subset

QUESTIONS_PER_SCENE = 3
# Slot j of scene s asks format FORMATS[(s + j) % 3]: each scene asks each format once, and a set cut inside a scene
# does not always lose the same format.
FORMATS: tuple[AnswerFormat, ...] = (AnswerFormat.MCQ, AnswerFormat.FORMAT, AnswerFormat.OPEN)

COVERAGE_ORDER: tuple[Subset, ...] = (
    Subset.SHOP_FRONT,
    Subset.SHOP_INTERIOR,
    Subset.KITCHEN,
    Subset.MULTI_IMG,
    Subset.VIDEO,
)
COVERAGE_SCENES = len(COVERAGE_ORDER)
COVERAGE_SAMPLES = COVERAGE_SCENES * QUESTIONS_PER_SCENE
MIN_N_ALL_SUBSETS_AND_FORMATS = COVERAGE_SCENES
MIN_N_ALL_PAIRS = COVERAGE_SAMPLES

# ShopBench's subset sizes (paper: 3,345 / 873 / 972 / 384 / 233 questions, about 57 / 15 / 17 / 7 / 4 %).
SUBSET_SHARES: dict[Subset, float] = {
    Subset.SHOP_FRONT: 3345,
    Subset.SHOP_INTERIOR: 873,
    Subset.KITCHEN: 972,
    Subset.MULTI_IMG: 384,
    Subset.VIDEO: 233,
}
_TOTAL_SHARE = sum(SUBSET_SHARES.values())
_CUMULATIVE: tuple[tuple[float, Subset], ...] = tuple(
    (sum(SUBSET_SHARES[s] for s in COVERAGE_ORDER[: k + 1]) / _TOTAL_SHARE, subset)
    for k, subset in enumerate(COVERAGE_ORDER)
)

# Share of questions asked in Chinese (question text, and the reference answer of open questions).
CHINESE_SHARE = 0.25

# The golden-ratio (Weyl) sequence frac(k * PHI + c) fills [0, 1) evenly for every prefix, so a choice made by
# comparing it with cumulative shares matches the shares closely at any n (a random draw would wander at small n).
_PHI = 0.6180339887498949
# Offset chosen so that the language sequence has a Chinese question among the first 5 samples (sample 1).
_LANGUAGE_OFFSET = 0.5


def _weyl(k: int, offset: float = 0.0) -> float:
    return (k * _PHI + offset) % 1.0


def locate(sample_index: int) -> tuple[int, int]:
    """(scene index, slot in the scene) of a sample. Slot 0 is always the scene's first sample in the manifest."""
    if sample_index < 0:
        raise ValueError(f"sample index must be >= 0; got {sample_index}")
    if sample_index < COVERAGE_SAMPLES:
        return sample_index % COVERAGE_SCENES, sample_index // COVERAGE_SCENES
    return divmod(sample_index, QUESTIONS_PER_SCENE)


def sample_index_of(scene_index: int, slot: int) -> int:
    """The inverse of locate()."""
    if scene_index < COVERAGE_SCENES:
        return slot * COVERAGE_SCENES + scene_index
    return scene_index * QUESTIONS_PER_SCENE + slot


def subset_of_scene(scene_index: int) -> Subset:
    if scene_index < COVERAGE_SCENES:
        return COVERAGE_ORDER[scene_index]
    u = _weyl(scene_index - COVERAGE_SCENES)
    for bound, subset in _CUMULATIVE:
        if u < bound:
            return subset
    return COVERAGE_ORDER[-1]  # only reachable through float rounding of the last bound


def format_of(scene_index: int, slot: int) -> AnswerFormat:
    return FORMATS[(scene_index + slot) % len(FORMATS)]


def is_chinese(sample_index: int) -> bool:
    return _weyl(sample_index, _LANGUAGE_OFFSET) < CHINESE_SHARE


def scene_count(n: int) -> int:
    """How many scenes (and so media groups) a set of n samples touches."""
    if n <= 0:
        return 0
    if n <= COVERAGE_SAMPLES:
        return min(n, COVERAGE_SCENES)
    return -(-n // QUESTIONS_PER_SCENE)
