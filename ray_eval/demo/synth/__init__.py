"""A deterministic synthetic dataset in ShopBench's shape, for testing the harness end to end without the real set.

    from ray_eval.demo.synth import synthesize
    summary = synthesize(Path("data/synth"), n=2000, seed=0)   # data/synth/manifest.jsonl + data/synth/media/

Five subsets as in ShopBench: ShopFront (signboard name, phone, OPEN/CLOSED sign, hours), ShopInterior (coloured
products with price tags), Kitchen (staff with or without hats and gloves, a bin with its lid open or closed;
critical hygiene probes), MultiImg (before/after shelf photos) and Video (a door opening or closing, a customer
walking past or into a shop; H.264 MP4). Every scene asks three questions, one per format (mcq, format, open),
about a quarter of them in Chinese. Every answer follows from what was drawn.

Guarantees: same (n, seed) gives byte-identical files; a smaller n gives a prefix of a larger one; any n >= 5 holds
all five subsets and all three formats, and any n >= 15 every (subset, format) pair.
"""

from ray_eval.demo.synth.generator import (
    SynthSample,
    SynthSummary,
    iter_samples,
    manifest_row,
    media_paths,
    scene_questions,
    synthesize,
    write_media,
)
from ray_eval.demo.synth.plan import MIN_N_ALL_PAIRS, MIN_N_ALL_SUBSETS_AND_FORMATS
from ray_eval.demo.synth.scenes import Scene, make_scene

__all__ = [
    "MIN_N_ALL_PAIRS",
    "MIN_N_ALL_SUBSETS_AND_FORMATS",
    "Scene",
    "SynthSample",
    "SynthSummary",
    "iter_samples",
    "make_scene",
    "manifest_row",
    "media_paths",
    "scene_questions",
    "synthesize",
    "write_media",
]
