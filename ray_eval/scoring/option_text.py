"""Finding multiple-choice options by their text in an answer: "Sun Bakery" for B, "4" in "There are 4 chairs".

Used by choice.py twice: to read an answer written as text instead of a letter, and to check that a letter and
the option text next to it ("B. 4", "选A，阳光面包房") agree.
"""

from __future__ import annotations

import bisect
import re
import string
from collections.abc import Sequence

from ray_eval.scoring.text import is_cjk, nfkc, normalize_text

LETTERS = string.ascii_uppercase


class OptionTexts:
    """The options of one question in comparison form (normalize_text), with their letters."""

    # "A. 通道太窄": a label that repeats the option's own letter is not part of its text.
    _OWN_LABEL = re.compile(r"^\(?([A-Za-z])\s*[.):、]\s*")

    def __init__(self, options: Sequence[str]):
        self.letters = LETTERS[: len(options)]
        texts = []
        for index, option in enumerate(options):
            option = nfkc(str(option)).strip()
            label = self._OWN_LABEL.match(option)
            if label and label.group(1).upper() == LETTERS[index]:
                option = option[label.end():]
            texts.append(normalize_text(option))
        self.texts = texts
        # Longest first, so "面包店" is found before (and instead of) "面包" inside it.
        self.by_length = sorted((i for i, t in enumerate(texts) if t), key=lambda i: -len(texts[i]))

    def at_start(self, text: str) -> int | None:
        """The option whose text starts text (the longest such), if any."""
        norm = normalize_text(text[:300]) if text.strip() else ""
        for index in self.by_length:
            option = self.texts[index]
            if norm.startswith(option) and not _glued(norm, len(option), option):
                return index
        return None

    def find(self, norm: str) -> list[tuple[int, bool]]:
        """(option index, negated) for each option text in normalised text; longer texts hide those inside them."""
        found = []
        masked = norm
        for index in self.by_length:
            option = self.texts[index]
            if len(option) == 1 and (is_cjk(option) or option.isalpha()):
                # "是"/"否" occur inside ordinary Chinese words and "a"/"i" in English ones; only a whole answer
                # or its first phrase counts for them.
                continue
            for match in re.finditer(re.escape(option), masked):
                start, end = match.span()
                if (start > 0 and _ascii_alnum(option[0]) and _ascii_alnum(masked[start - 1])) or _glued(
                    masked, end, option
                ):
                    continue  # "4" in "14", "Mart" in "Smart"
                before = _SENTENCE_END.split(norm[max(0, start - 16): start])[-1]
                negated = bool(_NEGATION_BEFORE.search(before) or _NEGATION_AFTER.match(norm[end: end + 16]))
                found.append((index, negated))
                masked = masked[:start] + "\0" * (end - start) + masked[end:]
        return found

    def read(self, text: str) -> tuple[int | None, str]:
        """The option an answer names by text alone, and why; None when none, several, or a negated one."""
        norm = normalize_text(text)
        exact = [i for i, option in enumerate(self.texts) if option and option == norm]
        if len(exact) == 1:
            return exact[0], f"the response is the text of option {LETTERS[exact[0]]}"
        # "Yes, there is no sign" / "否，店铺未营业": an option's text as the first phrase is the answer; what
        # follows is explanation, even if it happens to hold another option's text.
        first = self.at_start(norm)
        if first is not None and re.match(r"[,.;:!?。、]", norm[len(self.texts[first]):][:1]):
            return first, f"starts with the text of option {LETTERS[first]}"
        found = self.find(norm)
        letters = sorted({LETTERS[i] for i, _ in found})
        if not found:
            return None, "no option letter or option text found"
        if any(negated for _, negated in found):
            return None, f"the text of option {letters[0]} appears negated"
        if len(letters) > 1:
            return None, f"contains the text of several options: {', '.join(letters)}"
        return found[0][0], f"contains the text of option {letters[0]} only"


_NEGATION_BEFORE = re.compile(
    r"\b(?:not|no|never|neither|nor|without|isn't|aren't|wasn't)\b|n't\b|rather than|instead of|不|没|未|非|无|别"
)
_NEGATION_AFTER = re.compile(r"^\s*(?:(?:is|are|was)\s+)?(?:not\b|incorrect\b|wrong\b)|^\s*(?:不|并不|并非|错)")
_SENTENCE_END = re.compile(r"[.!?;。\n]")


def _glued(text: str, end: int, option: str) -> bool:
    """True when the option's text at text[:end] runs on into a longer Latin word or number ("4" in "45")."""
    return end < len(text) and _ascii_alnum(option[-1]) and _ascii_alnum(text[end])


def _ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


# ---- clauses --------------------------------------------------------------------------------------------------------

# A clause ends at a sentence end or where an explanation or contrast starts, so "B, not Sun Bakery" or
# "B because Sun Bakery is closed" does not hold Sun Bakery up against B.
_CLAUSE_BREAK = re.compile(
    r"\n|[。!?;]|\.(?=\s|$)"
    r"|\b(?:because|since|but|however|whereas|while|although|though|rather\s+than|instead\s+of|not|unlike|except"
    r"|otherwise)\b|因为|由于|但是|但|而不是|不是|并非|而非|然而|虽然|除了|否则",
    re.IGNORECASE,
)


class Clauses:
    """Where the clauses of a text break, found once so that many letters can be checked cheaply."""

    def __init__(self, text: str):
        self.text = text
        self.starts: list[int] = []
        self.ends: list[int] = []
        for brk in _CLAUSE_BREAK.finditer(text):
            at = brk.start()
            if brk.group() == "." and _labels_a_line(text, at):
                continue  # the "." of a "B. 4" line labels the letter; it does not end the sentence
            self.starts.append(at)
            self.ends.append(brk.end())

    def options_around(self, start: int, end: int, options: OptionTexts) -> set[int]:
        """Options whose text appears, not negated, in the clause around text[start:end] (which is left out)."""
        before = bisect.bisect_right(self.ends, start)  # breaks ending at or before the span
        left = self.ends[before - 1] if before else 0
        after = bisect.bisect_left(self.starts, end)  # the first break starting at or after it
        right = self.starts[after] if after < len(self.starts) else len(self.text)
        clause = self.text[left:start] + " | " + self.text[end:right]
        return {index for index, negated in options.find(normalize_text(clause)) if not negated}


def _labels_a_line(text: str, dot: int) -> bool:
    """True when text[dot] is the "." of a letter label opening its line ("B. 4"), not the end of "is C."."""
    line_start = text.rfind("\n", 0, dot) + 1
    return re.fullmatch(r"[ \t(\[-]*[A-Za-z]", text[line_start:dot]) is not None
