"""An estimate of a prompt's length in tokens, so that a prompt too long for the engine becomes an error row
before any request is sent (`preprocess.max_prompt_tokens`).

It is an estimate, not the model's tokenizer: ray-eval's preprocessing runs without the model's files. It is
meant to err on the long side, by a little, so that a prompt it lets through fits:

- Text: every CJK character (ideographs, kana, hangul, CJK punctuation, full-width forms) counts one token, and
  the rest one token per 4 characters, rounded up. Qwen's BPE tokenizers spend about one token per 4-5 characters
  of English and fewer than one per Chinese character, so both rules count a little high. The chat template's
  own tokens (`<|im_start|>role ... <|im_end|>` per message, the assistant's opening) are added.
- Images, as Qwen3-VL spends them (patch 16, 2x2 patches merged: one token per 32x32 pixels): the image's size
  rounded to multiples of 32 and, for images under 65,536 pixels, scaled up as the Qwen3-VL image processor
  does, plus 2 tokens (vision start and end). This is the model's own count for the image ray-eval sends, as long
  as the server does not shrink it further (its limit is higher than ray-eval's pixel budget; shrinking would only
  make the real count smaller).
- Videos, as Qwen3-VL spends them: frames merged in pairs (ceil(frames / 2) temporal groups), each group the
  tokens of one frame plus its vision start/end and a `<12.5 seconds>` timestamp (up to 9 tokens, digits are one
  token each). A server whose video processor shrinks frames spends fewer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

TOKEN_PIXELS = 32  # Qwen3-VL: 16-pixel patches, 2x2 merged into one token
MIN_IMAGE_PIXELS = 65_536  # Qwen3-VL's image processor scales smaller images up to this many pixels
VISION_MARKERS = 2  # <|vision_start|> ... <|vision_end|>
TIMESTAMP_TOKENS = 9  # "<12.5 seconds>" before each temporal group of a Qwen3-VL video (clips under 10,000 s)
FRAMES_PER_GROUP = 2  # Qwen3-VL's temporal patch: frames merged in pairs
MESSAGE_TOKENS = 5  # <|im_start|> role \n ... <|im_end|> \n
ANSWER_PREFIX_TOKENS = 8  # <|im_start|>assistant\n and an empty <think></think> block some templates add
CHARS_PER_TOKEN = 4
CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff]"
)


def text_tokens(text: str) -> int:
    """CJK characters one token each; the other characters one token per 4, rounded up."""
    cjk = len(CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / CHARS_PER_TOKEN)


def visual_grid(width: int, height: int) -> tuple[int, int]:
    """(columns, rows) of Qwen3-VL visual tokens for an image of this size (its smart_resize, factor 32)."""
    columns = max(1, round(width / TOKEN_PIXELS))
    rows = max(1, round(height / TOKEN_PIXELS))
    if columns * rows * TOKEN_PIXELS**2 < MIN_IMAGE_PIXELS:
        scale = math.sqrt(MIN_IMAGE_PIXELS / (width * height))
        columns = math.ceil(width * scale / TOKEN_PIXELS)
        rows = math.ceil(height * scale / TOKEN_PIXELS)
    return columns, rows


def image_tokens(width: int, height: int) -> int:
    columns, rows = visual_grid(width, height)
    return columns * rows + VISION_MARKERS


def video_tokens(frames: int, width: int, height: int) -> int:
    """Tokens of a video of `frames` sampled frames of this size: frames merged in pairs, each pair the tokens of
    one frame, its vision start/end and its timestamp text."""
    columns, rows = visual_grid(width, height)
    groups = math.ceil(frames / FRAMES_PER_GROUP)
    return groups * (columns * rows + VISION_MARKERS + TIMESTAMP_TOKENS)


@dataclass
class PromptEstimate:
    """The estimated tokens of one prompt, by part."""

    text: int = 0
    images: int = 0
    image_tokens: int = 0
    videos: int = 0
    video_tokens: int = 0

    def add_messages(self, texts: list[str]) -> None:
        """The text part: the text of each message (system, user) and the chat template around them."""
        self.text += sum(text_tokens(text) for text in texts) + MESSAGE_TOKENS * len(texts) + ANSWER_PREFIX_TOKENS

    def add_image(self, width: int, height: int) -> None:
        self.images += 1
        self.image_tokens += image_tokens(width, height)

    def add_video(self, frames: int, width: int, height: int) -> None:
        self.videos += 1
        self.video_tokens += video_tokens(frames, width, height)

    @property
    def total(self) -> int:
        return self.text + self.image_tokens + self.video_tokens

    def describe(self) -> str:
        """E.g. "9,312 prompt tokens (text 112, 3 images 9,200)"."""
        parts = [f"text {self.text:,}"]
        if self.images:
            parts.append(f"{self.images} image{'s' if self.images != 1 else ''} {self.image_tokens:,}")
        if self.videos:
            parts.append(f"{self.videos} video{'s' if self.videos != 1 else ''} {self.video_tokens:,}")
        return f"{self.total:,} prompt tokens ({', '.join(parts)})"
