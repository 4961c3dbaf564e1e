"""Which option a model chose, read from its free-text answer to a multiple-choice question.

The seed article took the first A-D anywhere in the upper-cased text, so "Answer: C" was read as A (the "A" of
"Answer") and "A store is open" as option A. Here a letter counts only in a form that names an option, and
rules are tried from the most explicit to the least; the first rule that reads anything decides:

1. final answer: the line after the last "Final answer" / "最终答案" / \\boxed{} / <answer> tag.
2. answer statements: "The answer is C", "Answer: C", "答案：C", "选C", "I choose C", "C is correct", "C正确",
   "so C", "it's C", a response that starts with a letter ("B", "(B)", "B.", "B) Sun Bakery"), a line holding
   only a letter.
3. mentions: "option B", "选项B", "(B)", a line starting "B." or "B)", "... is B.", "是B".
4. option text: the response is one option's text, or contains exactly one option's full text.

Never guess: when the deciding rule reads different letters, when an explicit answer names a letter outside
the options, or when a letter and an option text in the same clause disagree, the result is None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ray_eval.scoring.option_text import LETTERS, Clauses, OptionTexts
from ray_eval.scoring.text import is_cjk, nfkc, normalize_text, strip_markdown, strip_reasoning

FINAL_ANSWER = "final-answer"
ANSWER_STATEMENT = "answer-statement"
MENTION = "mention"
OPTION_TEXT = "option-text"


@dataclass(frozen=True)
class ChoiceReading:
    """The letter read from a response (None if none could be read safely), the rule that decided, and why."""

    letter: str | None
    rule: str | None
    note: str


def extract_choice(response: str, options: Sequence[str]) -> str | None:
    """The option letter the response chose, or None when it names no option or several different ones."""
    return read_choice(response, options).letter


def read_choice(response: str, options: Sequence[str]) -> ChoiceReading:
    """extract_choice with its reasons, for score details and failure analysis."""
    if len(options) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} options can be lettered; got {len(options)}")
    if not options:
        return ChoiceReading(None, None, "the question has no options")
    text = _clean(response or "")
    if not text:
        return ChoiceReading(None, None, "empty response (after removing any reasoning block)")
    ctx = OptionTexts(options)

    final = _final_segment(text)
    if final is not None:
        found = _read_at(final, 0, ctx, mode="marker")
        reading = _decide([found] if found else [], final, ctx, FINAL_ANSWER, explicit=True)
        if reading is None:
            reading = _read_tiers(final, ctx)
        if reading is not None:
            return ChoiceReading(reading.letter, FINAL_ANSWER, reading.note)
    reading = _read_tiers(text, ctx)
    return reading or ChoiceReading(None, None, "no option letter or option text found")


# ---- cleaning -------------------------------------------------------------------------------------------------------

_LATEX_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}")
# \boxed{B} and <answer>B</answer> are how reasoning models mark their final answer; rewrite them as one.
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)


def _clean(response: str) -> str:
    text = nfkc(strip_reasoning(response))
    text = _LATEX_TEXT.sub(r"\1", text)
    text = _BOXED.sub(lambda m: f"\nFinal answer: {m.group(1)}\n", text)
    text = _ANSWER_TAG.sub(lambda m: f"\nFinal answer: {m.group(1).strip()}\n", text)
    return strip_markdown(text).replace("$", "").strip()


# ---- reading one letter at a position -------------------------------------------------------------------------------


@dataclass
class _Found:
    letter: str
    start: int  # span of the whole reading (marker included), blanked when the clause is checked for option text
    end: int
    conflict: str | None = None
    weak: bool = False  # from a weak marker ("so", "I think"): a letter outside the options is ignored, not fatal


_OPTION_WORD = r"(?:\b(?:option|choice|letter)\b\s*:?\s*|选项\s*:?\s*)?"
_LEAD_START = re.compile(r"[\s\"'“”‘’>•\-]*" + _OPTION_WORD, re.IGNORECASE)
_LEAD_MARKER = re.compile(
    r"[\s:=\-—>\"'“”‘’,]*"
    r"(?:(?:is|would\s+be|should\s+be|will\s+be|must\s+be)\b[\s:]*)?"
    r"(?:(?:应该是|应该为|应是|应为|就是|是|为|选择|选(?!项))\s*:?\s*)?"
    r"(?:(?:most\s+)?(?:likely|probably|definitely|clearly|certainly|indeed)\b[\s,:]*)?" + _OPTION_WORD,
    re.IGNORECASE,
)
# A letter standing alone: not part of a word ("Answer", "As"), an abbreviation ("A-frame", "A4", "A's").
_LETTER = re.compile(
    r"(?P<open>[(\[【{<])?[ \t]*(?P<letter>[A-Za-z])(?![A-Za-z0-9'’\-])"
    r"(?:[ \t]*(?P<close>[)\]】}>]))?"
)
# After "A"/"I", these words show the letter is the subject ("A is correct", "A because ..."), not an article.
_CONNECTIVES = {"is", "because", "since", "as", "seems", "looks", "appears", "and", "or", "fits", "matches"}
# At the very start of a response, only these may follow a bare letter ("B because the sign ..."); "B is wrong"
# is a statement about B, not a choice of it.
_START_FOLLOWERS = {"because", "since", "as", "given"}
# Han characters that may follow a letter in a Chinese answer ("B项", "B是", "B选项", "选B吧"); others ("A级",
# "B区") make the letter part of a name.
_CJK_AFTER_LETTER = set("项是为正对选吧呢啊")
_SEPARATORS = " \t.:)、,;—-]】}>"
_JOINED_LETTER = re.compile(r"(?:(?:and|or|&|/|和|或者|或|以及|及|与)\s*)?", re.IGNORECASE)
_ECHOED_LABEL = re.compile(r"(?:选项|\b(?i:option)\s*)([A-Za-z])\b|(?<![A-Za-z0-9])([A-Z])\s*[.):](?=\s)")
_LINE_LABEL = re.compile(r"^[ \t]*([A-Z])[ \t]*[.):](?=\s)", re.MULTILINE)


def _read_at(text: str, pos: int, ctx: OptionTexts, mode: str) -> _Found | None:
    """The option named at text[pos:] (after a marker, or at the start of the response), if any."""
    lead = (_LEAD_MARKER if mode == "marker" else _LEAD_START).match(text, pos)
    assert lead is not None  # every part of either lead is optional: it matches, if only the empty string
    at = lead.end()
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    token = _LETTER.match(text, at, line_end)
    if token and _is_letter_token(token, text, line_end, ctx, mode):
        letter = token.group("letter").upper()
        found = _Found(letter, pos, token.end())
        rest = text[token.end(): line_end].lstrip(_SEPARATORS)
        rest_at = line_end - len(rest)
        joined = _JOINED_LETTER.match(rest)
        assert joined is not None  # optional as a whole: it matches, if only the empty string
        other = _LETTER.match(rest, joined.end())
        if other and _is_letter_token(other, rest, len(rest), ctx, "marker"):
            second = other.group("letter").upper()
            if second != letter:
                found.conflict = f"names more than one option: {letter} and {second}"
                return found
        if mode == "start" and _echoes_options(text, rest, line_end, letter, ctx):
            return None  # "A) Sun Bakery B) Moon Cafe ...": the options repeated, not an answer
        attached = _attached_option(text[token.end(): rest_at], rest, ctx)
        if attached is not None:
            found.end = rest_at + len(rest)  # the label's text is part of the reading, not of its clause
            if LETTERS[attached] != letter:
                found.conflict = f"letter {letter} is followed by the text of option {LETTERS[attached]}"
        return found
    if mode != "marker":
        return None
    # "答案是阳光面包房" / "The answer is Sun Bakery (B)": an option's text where a letter was expected.
    chosen = ctx.at_start(text[at:line_end])
    if chosen is None:
        return None
    found = _Found(LETTERS[chosen], pos, line_end)
    after = re.search(r"[(\[【]\s*([A-Z])\s*[)\]】]", text[at:line_end])
    if after and after.group(1) != LETTERS[chosen]:
        found.conflict = f"the text of option {LETTERS[chosen]} is labelled {after.group(1)}"
    return found


def _echoes_options(text: str, rest: str, line_end: int, letter: str, ctx: OptionTexts) -> bool:
    """True when other option labels follow on the line or open the next lines: a list, not one answer."""
    labels = (*_ECHOED_LABEL.finditer(rest), *_LINE_LABEL.finditer(text, line_end))
    # Each label's letter is in the one group its pattern's alternative that matched has.
    return bool({label.upper() for m in labels for label in m.groups() if label} & set(ctx.letters) - {letter})


def _attached_option(separator: str, rest: str, ctx: OptionTexts) -> int | None:
    """The option whose text follows a letter as its label's text ("B) Sun Bakery", "B. 4"), if any."""
    attached = ctx.at_start(rest)
    if attached is not None and "." in separator:
        # "B. 4" labels; "C. Open hours are posted." ends a sentence and starts another.
        after_text = normalize_text(rest)[len(ctx.texts[attached]):]
        if after_text.strip() and not re.match(r"\s*[,;:!?。、(]", after_text):
            return None
    return attached


def _is_letter_token(token: re.Match, text: str, limit: int, ctx: OptionTexts, mode: str) -> bool:
    letter = token.group("letter")
    rest = text[token.end(): limit]
    if token.group("open") and token.group("close"):
        return True
    if re.match(r"\.[A-Za-z]", rest):
        return False  # "A.M.", "e.g."
    if rest[:1] and is_cjk(rest[0]) and rest[0] not in _CJK_AFTER_LETTER:
        return False
    if mode == "start" and letter.islower() and not (token.group("close") or re.match(r"\s*(?:[.):]|$)", rest)):
        return False  # a lower-case letter opens a sentence only as a word ("a store ...")
    word = re.match(r"[ \t]+([A-Za-z][A-Za-z'’]*)", rest)
    if word is None or token.group("close"):
        return True
    follower = word.group(1).lower()
    if ctx.at_start(rest) == LETTERS.index(letter.upper()):
        return True  # "A Sun Bakery" where Sun Bakery is option A
    if mode == "start":
        return follower in _START_FOLLOWERS
    if letter in "AaIi":
        return follower in _CONNECTIVES  # "answer is a bakery", "I think": an article or a pronoun
    return True


# ---- the rules ------------------------------------------------------------------------------------------------------

_FINAL = re.compile(r"final\s+(?:answer|choice|option)|最终(?:的)?(?:答案|选择|选项)|最后(?:的)?答案", re.IGNORECASE)
_ANSWER_MARKERS = re.compile(
    r"\b(?:(?:the\s+)?(?:correct|right|best|my)\s+(?:answer|choice|option|selection)|answer|ans)[\"']?\s*"
    r"(?:is|would\s+be|should\s+be|will\s+be|must\s+be|[:=\-—])"
    r"|\b(?:choose|chose|pick|picked|select|selected|go\s+with|opt\s+for)\b"
    r"|(?:正确|最佳|最合适)?的?答案|(?:正确|最佳|最合适)的?选项\s*(?:是|为|:)|答\s*:"
    r"|(?:应该|应当|应|我|故|所以|因此|可以)?选(?:择)?(?!项)",
    re.IGNORECASE,
)
_WEAK_MARKERS = re.compile(
    r"\b(?:so|therefore|thus|hence|think|believe|guess)\b|\bit(?:'s|’s|\s+is|\s+(?:should|must|would)\s+be)\b"
    r"|因此|所以|综上所述|综上|故",
    re.IGNORECASE,
)
_CORRECT_AFTER = re.compile(
    r"(?:\b(?:option|choice)\s*[(\[]?\s*(?P<named>[A-Za-z])|(?<![A-Za-z0-9'’])[(\[【]?\s*(?P<bare>(?-i:[A-Z])))"
    r"(?![A-Za-z0-9])\s*[)\]】]?\s*(?:"
    r"(?:is|seems|looks)\s+(?:to\s+be\s+)?(?:the\s+)?"
    r"(?:correct|right|answer|(?:best|most\s+(?:likely|accurate|appropriate))\s+(?:answer|option|choice|one|fit|match))\b"
    r"|(?:项|选项)?\s*(?:是|为)?\s*(?:正确|是对的|最合适|最符合|最佳))",
    re.IGNORECASE,
)
_LONE_LETTER_LINE = re.compile(r"^[ \t]*[(\[【]?[ \t]*([A-Z])[ \t]*[)\]】]?[ \t]*[.。!]?[ \t]*$", re.MULTILINE)
_MENTION_WORDS = re.compile(r"\b(?:option|choice)\b|选项", re.IGNORECASE)
_MENTIONS = re.compile(
    r"[(\[【][ \t]*(?P<bracketed>[A-Z])[ \t]*[)\]】]"
    r"|^[ \t]*(?:[-•][ \t]*)?(?P<label>[A-Z])[ \t]*[.):、](?![A-Za-z0-9])"
    r"|(?:\b(?i:is|it's|be|was)[ \t]+|(?<!不)(?:是|为)[ \t]*)"
    r"[(\[【]?(?P<copula>[A-Z])[)\]】]?(?=[ \t]*(?:[.!?,;。、]|$))"
    r"|(?<![A-Za-z0-9])(?P<item>[A-Z])[ \t]*项",
    re.MULTILINE,
)


def _read_tiers(text: str, ctx: OptionTexts) -> ChoiceReading | None:
    statements: list[_Found] = []
    start = _read_at(text, 0, ctx, mode="start")
    if start:
        statements.append(start)
    for marker in _ANSWER_MARKERS.finditer(text):
        found = _read_at(text, marker.end(), ctx, mode="marker")
        if found:
            found.start = marker.start()
            statements.append(found)
    for marker in _WEAK_MARKERS.finditer(text):
        found = _read_at(text, marker.end(), ctx, mode="marker")
        if found and not found.conflict:
            found.start, found.weak = marker.start(), True
            statements.append(found)
    for match in _CORRECT_AFTER.finditer(text):
        statements.append(_Found((match.group("named") or match.group("bare")).upper(), match.start(), match.end()))
    for match in _LONE_LETTER_LINE.finditer(text):
        statements.append(_Found(match.group(1), match.start(), match.end()))
    reading = _decide(statements, text, ctx, ANSWER_STATEMENT, explicit=True)
    if reading is not None:
        return reading

    mentions: list[_Found] = []
    for word in _MENTION_WORDS.finditer(text):
        found = _read_at(text, word.start(), ctx, mode="marker")
        if found and found.end > word.end():
            mentions.append(found)
    for match in _MENTIONS.finditer(text):
        letter = next(group for group in match.groups() if group)
        mentions.append(_Found(letter, match.start(), match.end()))
    reading = _decide(mentions, text, ctx, MENTION, explicit=False)
    if reading is not None:
        return reading
    index, note = ctx.read(text)
    if index is None and not note.startswith("no option"):
        return ChoiceReading(None, OPTION_TEXT, note)
    return None if index is None else ChoiceReading(LETTERS[index], OPTION_TEXT, note)


def _decide(found: list[_Found], text: str, ctx: OptionTexts, rule: str, explicit: bool) -> ChoiceReading | None:
    """One rule's verdict: a letter, None with a reason (contradiction), or None for "this rule read nothing"."""
    if not found:
        return None
    for item in found:
        if item.conflict:
            return ChoiceReading(None, rule, item.conflict)
    outside = sorted({f.letter for f in found if f.letter not in ctx.letters and explicit and not f.weak})
    if outside:
        last = ctx.letters[-1]
        return ChoiceReading(None, rule, f"names {', '.join(outside)}, which is not an option (A-{last})")
    inside = [f for f in found if f.letter in ctx.letters]
    letters = sorted({f.letter for f in inside})
    if not letters:
        return None
    if len(letters) > 1:
        return ChoiceReading(None, rule, f"names several options: {', '.join(letters)}")
    letter = letters[0]
    clauses = Clauses(text)
    for item in inside:
        texts = clauses.options_around(item.start, item.end, ctx)
        if len(texts) == 1 and LETTERS.index(letter) not in texts:
            other = LETTERS[next(iter(texts))]
            return ChoiceReading(None, rule, f"letter {letter} but the text of option {other} in the same clause")
    return ChoiceReading(letter, rule, f"read {letter} ({rule})")


def _final_segment(text: str) -> str | None:
    """The line after the last final-answer marker (or the next non-empty line when the marker ends its line)."""
    markers = list(_FINAL.finditer(text))
    if not markers:
        return None
    after = text[markers[-1].end():]
    after = re.sub(r"^[ \t]*(?:is|:|=|-|—|是|为)?[ \t]*:?", "", after, flags=re.IGNORECASE)
    for line in after.split("\n"):
        if line.strip():
            return line.strip()
    return ""
