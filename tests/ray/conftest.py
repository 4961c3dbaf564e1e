"""A local Ray for the pipeline tests (one per session: starting Ray costs seconds), and a mixed dataset whose
answers the scripted server knows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import jpeg_bytes, mp4_bytes, write_jsonl


def mixed_rows() -> list[dict[str, Any]]:
    """Twelve samples over all subsets, formats and input types, with the correct answer text of each."""
    labels = {"l1": "Perception", "l2": "Fine-grained Single-instance", "l3": "OCR", "l4": "Shop Name"}
    rows = []
    for i in range(4):
        rows.append({"id": f"mcq-{i}", "subset": "ShopFront", "format": "mcq", "question": f"Shop name {i}?",
                     "options": ["Lucky Mart", "Sun Bakery", "Green Grocer", "Blue Cafe"], "answer": "ABCD"[i],
                     "media": [{"type": "image", "path": "media/front.jpg"}], "labels": labels})
    rows.append({"id": "open-zh", "subset": "ShopInterior", "format": "open", "question": "最便宜的商品是什么颜色？",
                 "answer": "红色", "media": [{"type": "image", "path": "media/shelf.jpg"}],
                 "labels": {"l1": "Perception", "l3": "Attribute Recognition"}})
    rows.append({"id": "open-en", "subset": "Kitchen", "format": "open", "question": "How many staff wear hats?",
                 "answer": "two staff", "media": [{"type": "image", "path": "media/kitchen.jpg"}], "critical": True,
                 "weight": 2.0, "labels": {"l1": "Perception", "l4": "Hygiene Attribute"}})
    rows.append({"id": "format-1", "subset": "Kitchen", "format": "format", "question": "Report the kitchen state.",
                 "answer": {"bin_open": False, "staff": 2}, "media": [{"type": "image", "path": "media/kitchen.jpg"}],
                 "schema": {"type": "object",
                            "properties": {"bin_open": {"type": "boolean"}, "staff": {"type": "integer"}}},
                 "critical": True})
    rows.append({"id": "multi-1", "subset": "MultiImg", "format": "mcq", "question": "What changed?",
                 "options": ["nothing", "a product was removed"], "answer": "B",
                 "media": [{"type": "image", "path": "media/front.jpg"}, {"type": "image", "path": "media/shelf.jpg"}]})
    rows.append({"id": "video-1", "subset": "Video", "format": "mcq", "question": "Does the door open or close?",
                 "options": ["open", "close"], "answer": "A", "media": [{"type": "video", "path": "media/door.mp4"}]})
    for i in range(3):
        rows.append({"id": f"extra-{i}", "subset": "ShopFront", "format": "open", "question": f"Phone number {i}?",
                     "answer": f"555-010{i}", "media": [{"type": "image", "path": "media/front.jpg"}]})
    return rows


def correct_answer(row: dict[str, Any]) -> str:
    if row["format"] == "format":
        return "```json\n" + json.dumps(row["answer"]) + "\n```"
    return row["answer"]


@pytest.fixture
def mixed_dataset(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    media = tmp_path / "data" / "media"
    media.mkdir(parents=True)
    (media / "front.jpg").write_bytes(jpeg_bytes("navy", (320, 240)))
    (media / "shelf.jpg").write_bytes(jpeg_bytes("orange", (1200, 900)))
    (media / "kitchen.jpg").write_bytes(jpeg_bytes("white", (320, 240)))
    (media / "door.mp4").write_bytes(mp4_bytes(frames=24, fps=8))
    rows = mixed_rows()
    return write_jsonl(tmp_path / "data" / "manifest.jsonl", rows), rows
