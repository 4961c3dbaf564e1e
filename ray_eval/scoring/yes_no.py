"""Reading a yes or a no from a response (MME and POPE style questions), or None: never a guess.

VLMEvalKit reads a reply as "yes" when the word yes appears in it and no does not, and the other way round
(YOrN_Extraction in vlmeval/dataset/utils/yorn.py); anything else is "Unknown", which it hands to an LLM judge. Here
there is no judge, so the rules are stricter about what counts and an unreadable reply stays unparsed:

1. The answer part: reasoning blocks removed, markdown and full-width forms folded, case ignored; after the last
   "Answer:" / "final answer is" / "答案是" marker when there is one.
2. A hedge anywhere in that part ("maybe", "probably", "not sure", "cannot tell", "可能", "不确定" ...) → None.
3. "yes or no", "yes/no", "yes and no" (both at once) → None.
4. Statements: a yes or no word opening the answer or one of its sentences ("Yes, there is ...", "No.",
   "... . No, it is not."), or standing as a clause of its own after a comma ("Looking at it, yes."), or a Chinese
   answer word standing as the opening clause ("是的，", "不是。", "对", "不对", "有", "没有", "否"; not "有两个圆形",
   which describes).
   One kind → that answer; both → None.
5. Mentions, when no sentence opens with an answer: the words yes/no anywhere ("There is no red circle." → no).
   One kind → that answer; both → None. Chinese characters are not read here: 是 and 有 are in most sentences.
6. Otherwise → None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ray_eval.scoring.text import nfkc, strip_markdown, strip_reasoning

YES, NO = "yes", "no"
STATEMENT = "statement"
MENTION = "mention"


@dataclass(frozen=True)
class YesNoReading:
    """The answer read (yes, no, or None when none can be read safely), the rule that decided, and why."""

    answer: str | None
    rule: str | None
    note: str


_ANSWER_MARKER = re.compile(
    r"(?:final\s+)?answer\s*(?:is|would\s+be|:|=|-)|最终答案\s*(?:是|为|:)?|答案\s*(?:是|为|:)|答\s*:",
    re.IGNORECASE,
)
_HEDGES = re.compile(
    r"\b(?:maybe|perhaps|possibly|probably|likely|unlikely|might|could\s+be|may\s+or\s+may\s+not|not\s+sure|"
    r"unsure|uncertain|unclear|not\s+certain|hard\s+to\s+(?:say|tell)|difficult\s+to\s+(?:say|tell)|"
    r"impossible\s+to\s+(?:say|tell)|(?:can\s*not|can['’]t|cannot|unable\s+to)\s+(?:tell|say|determine|see|be\s+sure)|"
    r"(?:do\s+not|don['’]t)\s+know|it\s+depends)\b"
    r"|可能|也许|或许|大概|不确定|无法(?:确定|判断|确认|看清|回答)|不清楚|不知道|难说|说不准|不好说|看不清|没办法",
    re.IGNORECASE,
)
_ALTERNATIVES = re.compile(r"\b(?:yes\s*(?:or|and|/)\s*no|no\s*(?:or|and|/)\s*yes)\b|是\s*(?:或|还是|/)\s*否",
                           re.IGNORECASE)
_ENGLISH = {"yes": YES, "yeah": YES, "yep": YES, "yup": YES, "no": NO, "nope": NO}
# "No doubt, ..." is an emphasis, not an answer.
_ENGLISH_WORD = re.compile(r"\b(yes|yeah|yep|yup|no(?!\s+doubt)|nope)\b", re.IGNORECASE)
# Where a sentence starts: the text's start, after sentence punctuation or a line break, after an answer marker.
# Leading quotes, brackets and list marks are skipped.
_SENTENCE_START = re.compile(r"(?:^|[.!?;\n。！？；]|(?<=:))[\s\"'“”‘’(\[【*\-•]*", re.MULTILINE)
# Chinese answer words, longest first so that 不是 is not read as 是, and only as a clause of their own ("是的，",
# "没有。"): "有两个圆形" and "是一个圆" describe the picture, they do not answer.
_CHINESE_AT_START = re.compile(r"(不是|不对|没有|不|否|是|对|有|正确|错)(?:的|啊|呀)?(?=[\s,.!?;:，。！？；：、]|$)")
_CHINESE = {"不是": NO, "不对": NO, "没有": NO, "不": NO, "否": NO, "错": NO, "是": YES, "对": YES, "有": YES,
            "正确": YES}


def read_yes_no(response: str) -> YesNoReading:
    """The yes or no a response gives, with the rule that read it; answer None when it gives neither, both, or
    hedges."""
    text = _answer_part(response or "")
    if not text:
        return YesNoReading(None, None, "empty response (after removing any reasoning block)")
    hedge = _HEDGES.search(text)
    if hedge:
        return YesNoReading(None, None, f"hedges ({hedge.group(0)!r})")
    both = _ALTERNATIVES.search(text)
    if both:
        return YesNoReading(None, None, f"offers both answers ({both.group(0)!r})")
    statements = _statements(text)
    if statements:
        return _decide(statements, STATEMENT)
    mentions = {_ENGLISH[m.group(1).lower()] for m in _ENGLISH_WORD.finditer(text)}
    if mentions:
        return _decide(mentions, MENTION)
    return YesNoReading(None, None, "no yes or no found")


def _answer_part(response: str) -> str:
    text = strip_markdown(nfkc(strip_reasoning(response))).strip()
    markers = list(_ANSWER_MARKER.finditer(text))
    if markers:
        after = text[markers[-1].end():].strip()
        if after:  # "The answer is: yes"; a marker with nothing after it leaves the whole text to read
            text = after
    return text


# A yes or no standing as a clause of its own after a comma: "Looking at it, yes." / "Yes, no."
_CLAUSE_WORD = re.compile(r"[,，]\s*(yes|yeah|yep|yup|no|nope)\s*(?=[,.!?;:，。！？；：]|$)",
                          re.IGNORECASE | re.MULTILINE)


def _statements(text: str) -> set[str]:
    found = {_ENGLISH[m.group(1).lower()] for m in _CLAUSE_WORD.finditer(text)}
    for start in _SENTENCE_START.finditer(text):
        at = start.end()
        word = _ENGLISH_WORD.match(text, at)
        if word:
            found.add(_ENGLISH[word.group(1).lower()])
            continue
        chinese = _CHINESE_AT_START.match(text, at)
        if chinese:
            found.add(_CHINESE[chinese.group(1)])
    return found


def _decide(answers: set[str], rule: str) -> YesNoReading:
    if len(answers) > 1:
        return YesNoReading(None, rule, "says both yes and no")
    answer = next(iter(answers))
    return YesNoReading(answer, rule, f"read {answer} ({rule})")


def expected_yes_no(answer: str) -> str:
    """A dataset's yes/no answer ("Yes", "no", "是", "否" ...) as yes or no; ValueError for any other answer."""
    key = answer.strip().strip(".。!！").casefold()
    value = _ENGLISH.get(key) or _CHINESE.get(key) or {"是的": YES, "对的": YES}.get(key)
    if value is None:
        raise ValueError(f"the yes_no scorer needs an answer of yes or no; got {answer!r}")
    return value
