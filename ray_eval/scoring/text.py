"""Text clean-up shared by the scorers: reasoning blocks, Unicode forms, markdown, normalised comparison text.

Every scorer reads only the answer a model gives after its reasoning, and compares text after NFKC so that a
full-width "Ｂ", "１２．５" or "（B）" from a Chinese answer reads the same as its ASCII form.
"""

from __future__ import annotations

import re
import unicodedata

# Qwen3-style reasoning. Chat templates often put the opening tag in the prompt, so a response may hold only
# "...reasoning...</think> answer"; a response cut off mid-reasoning holds "<think> ..." and no answer at all.
# A tag right after a double quote opens a JSON string (a key or value "</think>"): that is data, not reasoning.
_THINK_BLOCK = re.compile(r'(?<!")<(think|thinking|reasoning)>.*?</\1>', re.IGNORECASE | re.DOTALL)
_THINK_CLOSE = re.compile(r'(?<!")</(?:think|thinking|reasoning)>', re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)

# Emphasis, code and heading marks carry no answer; "**B**" and "`B`" are "B".
_MARKDOWN = re.compile(r"\*+|`+|~~|^[ \t]*#{1,6}[ \t]*|^[ \t]*>[ \t]?", re.MULTILINE)

_WHITESPACE = re.compile(r"\s+")

# Quotes, brackets and sentence punctuation around an answer ("“Sun Bakery”。") are not part of it.
# "-" stays: it may be a sign.
_EDGE_PUNCTUATION = "\"'“”‘’「」『』《》〈〉()[]{}【】<>.,;:!?。、，；：！？·…— \t\r\n"


def strip_reasoning(text: str) -> str:
    """The answer part of a response: reasoning blocks removed, and nothing of a reasoning block left unclosed."""
    if not text:
        return ""
    text = _THINK_BLOCK.sub(" ", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    if _THINK_OPEN.match(text.lstrip()):
        # Truncated reasoning: a response that opens a reasoning block and never closes it holds no answer.
        # (An unclosed tag further in is text, e.g. a JSON key "<think>", not reasoning.)
        return ""
    return text.strip()


def nfkc(text: str) -> str:
    """Full-width letters, digits and punctuation folded to their ASCII forms (and other compatibility forms)."""
    return unicodedata.normalize("NFKC", text)


def strip_markdown(text: str) -> str:
    return _MARKDOWN.sub("", text)


def normalize_text(text: str) -> str:
    """Comparison form of a short answer: NFKC, case-folded, markdown and edge punctuation removed, spaces collapsed."""
    text = strip_markdown(nfkc(text)).casefold()
    text = _WHITESPACE.sub(" ", text)
    return text.strip(_EDGE_PUNCTUATION)


# Han, Hiragana, Katakana and Hangul: scripts written without spaces between words, so each character is a token.
# For use inside a regex character class. The katakana middle dot (U+30FB) is punctuation and left out.
CJK_RANGES = (
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # compatibility ideographs
    "\U00020000-\U0003ffff"  # extensions B and later
    "\u3005-\u3007"  # 々 〆 〇
    "\u3040-\u309f"  # Hiragana
    "\u30a1-\u30fa\u30fc-\u30ff"  # Katakana (with the long-vowel mark ー)
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # Hangul jamo and syllables
)
_CJK_CHAR = re.compile(f"[{CJK_RANGES}]")


def is_cjk(char: str) -> bool:
    """True for one Han, Hiragana, Katakana or Hangul character."""
    return len(char) == 1 and _CJK_CHAR.match(char) is not None
