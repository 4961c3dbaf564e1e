"""A small run of the preprocessing benchmark: every input is measured both ways and the figures add up. No
timing thresholds (BENCHMARKS.md has the real run)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from benchmarks.preprocess import MEGAPIXELS, measure, photo


def test_photos_have_the_size_asked_for_and_a_photos_entropy() -> None:
    data = photo(2, seed=1)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size[0] * image.size[1] == pytest.approx(2e6, rel=0.01)
    assert len(data) > 300_000  # noise keeps it far from a flat drawing's few tens of kB


def test_small_run_measures_every_input_both_ways(tmp_path) -> None:
    result = measure(tmp_path, images_per_size=1, repeats=1, video_seconds=1)
    assert [row["megapixels"] for row in result["images"]] == list(MEGAPIXELS)
    for row in result["images"]:
        for rate in ("decode_images_per_s", "prepare_images_per_s", "original_images_per_s"):
            assert row[rate] > 0
        assert row["ratio"] == pytest.approx(row["prepare_ms"] / row["decode_ms"])
        assert row["original_ratio"] == pytest.approx(row["original_ms"] / row["decode_ms"])
    video = result["video"]
    assert video["frames"] == 30 and video["ratio"] == pytest.approx(video["prepare_s"] / video["decode_s"])
