"""ShopBench's fixed vocabulary: subsets, answer formats, input types and label levels."""

from __future__ import annotations

from enum import Enum


class Subset(str, Enum):
    """The five subsets ShopBench reports."""

    SHOP_FRONT = "ShopFront"
    SHOP_INTERIOR = "ShopInterior"
    KITCHEN = "Kitchen"
    MULTI_IMG = "MultiImg"
    VIDEO = "Video"


class AnswerFormat(str, Enum):
    """How the model is asked to answer."""

    MCQ = "mcq"
    FORMAT = "format"  # an answer in a predefined structure (a JSON object here)
    OPEN = "open"


class InputType(str, Enum):
    """What visual input a question carries."""

    SINGLE = "single"
    MULTI = "multi"
    VIDEO = "video"


class MediaKind(str, Enum):
    IMAGE = "image"
    VIDEO = "video"


LABEL_LEVELS = ("l1", "l2", "l3", "l4")

# The paper's subsets are defined by their input: three single-image scene subsets, one multi-image and one video.
SUBSET_INPUT_TYPE: dict[Subset, InputType] = {
    Subset.SHOP_FRONT: InputType.SINGLE,
    Subset.SHOP_INTERIOR: InputType.SINGLE,
    Subset.KITCHEN: InputType.SINGLE,
    Subset.MULTI_IMG: InputType.MULTI,
    Subset.VIDEO: InputType.VIDEO,
}

# Group name used in reports for samples whose source gives no subset (seed suites, most TSVs).
NO_SUBSET = "(none)"


def option_letter(index: int) -> str:
    """A, B, ..., Z for option positions 0..25."""
    if not 0 <= index < 26:
        raise ValueError(f"option index {index} is outside A-Z")
    return chr(ord("A") + index)
