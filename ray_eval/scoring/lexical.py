"""Token overlap between an open-ended answer and its reference, for English and Chinese alike.

The seed article split the reference on spaces, so a Chinese reference ("苹果、香蕉、牛奶") was one keyword that an
answer matched only by repeating it verbatim. Here Han, Hiragana, Katakana and Hangul characters are one token
each (Chinese has no spaces to split on, and a character is the unit a word segmenter would disagree least
about), and Latin words and numbers are whole tokens. Counts are multisets: saying "bread" three times does not
match three breads in the reference.
"""

from __future__ import annotations

import re
from collections import Counter

from ray_eval.scoring.text import CJK_RANGES, nfkc, strip_reasoning

_TOKEN = re.compile(
    rf"[{CJK_RANGES}]"  # one CJK character
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234.5: a thousands-grouped number
    r"|\d+(?:\.\d+)?"  # 12 or 12.5 (so "12.5元" is "12.5" and "元")
    rf"|(?:(?![{CJK_RANGES}])[^\W\d_])+"  # a run of letters (Latin, Cyrillic, ...), split from digits and CJK
)


def tokenize(text: str) -> list[str]:
    """NFKC, case-folded tokens: each CJK character, each Latin word, each number; punctuation dropped."""
    return [token.replace(",", "") for token in _TOKEN.findall(nfkc(text or "").casefold())]


def overlap(response: str, reference: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of the answer's tokens (after any reasoning block) against the reference's.

    Two empty texts agree fully; an empty text against a non-empty one shares nothing.
    """
    got = Counter(tokenize(strip_reasoning(response)))
    want = Counter(tokenize(strip_reasoning(reference)))
    if not got or not want:
        agree = float(not got and not want)
        return agree, agree, agree
    common = sum((got & want).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision = common / sum(got.values())
    recall = common / sum(want.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def token_f1(response: str, reference: str) -> float:
    """Harmonic mean of token precision and recall, in [0, 1]; symmetric in its two arguments."""
    return overlap(response, reference)[2]


def token_recall(response: str, reference: str) -> float:
    """Share of the reference's tokens the answer contains, in [0, 1] (what the seed article meant by keywords)."""
    return overlap(response, reference)[1]
