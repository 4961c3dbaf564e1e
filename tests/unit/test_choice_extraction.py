"""extract_choice on realistic model answers to ShopBench-style multiple-choice questions (English and Chinese).

One table: (response, options, expected letter or None). Traps (letters inside words, articles, letters outside
the options, contradictions) expect None or the letter a careful reader would take; never a guess.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ray_eval.config import DEFAULT_FORMAT_SCORERS
from ray_eval.data.taxonomy import AnswerFormat
from ray_eval.scoring import (
    SCORERS,
    ScoreResult,
    ScoringTarget,
    extract_choice,
    get_scorer,
    registry,
    scorer,
)
from ray_eval.scoring.choice import read_choice
from ray_eval.scoring.registry import UnknownScorerError

SHOPS = ("Lucky Mart", "Sun Bakery", "Green Grocer", "Blue Cafe")  # A B C D
COUNTS = ("3", "4", "5", "6")
SHOPS_ZH = ("阳光面包房", "月亮咖啡", "星星超市", "幸运面馆")
STATUS_ZH = ("营业中", "已关门", "装修中", "无法判断")
YES_NO = ("Yes", "No")
SHI_FOU = ("是", "否")
PRICES = ("¥12.5", "¥15", "¥18", "¥20")
SEED_LABELLED = ("A. 通道太窄", "B. 商品分类混乱", "C. 照明不足", "D. 所有以上")  # the seed suite's own labels
FIVE = ("Fire exit", "Fire extinguisher", "First-aid kit", "Hand sink", "Hairnet")  # A-E
TEN = tuple(f"Shelf {n}" for n in range(1, 11))  # A-J: "I" is an option here

P = pytest.param

CASES = [
    # ---- bare letters and bracket/punctuation forms -------------------------------------------------------------
    P("B", SHOPS, "B", id="bare-letter"),
    P("B.", SHOPS, "B", id="letter-period"),
    P("(B)", SHOPS, "B", id="letter-parens"),
    P("B)", SHOPS, "B", id="letter-close-paren"),
    P("[B]", SHOPS, "B", id="letter-square-brackets"),
    P("【B】", SHOPS, "B", id="letter-cjk-brackets"),
    P("**B**", SHOPS, "B", id="markdown-bold-letter"),
    P("`C`", SHOPS, "C", id="markdown-code-letter"),
    P("B:", SHOPS, "B", id="letter-colon"),
    P("  D\n", SHOPS, "D", id="letter-with-whitespace"),
    P("b", SHOPS, "B", id="lowercase-bare-letter"),
    P("c.", SHOPS, "C", id="lowercase-letter-period"),
    P("A", SHOPS, "A", id="bare-A"),
    P("A.", SHOPS, "A", id="A-period"),
    P("(A)", SHOPS, "A", id="A-parens"),
    P("A) Lucky Mart", SHOPS, "A", id="A-paren-with-option-text"),
    P("A Lucky Mart", SHOPS, "A", id="A-space-own-option-text"),
    P("B) Sun Bakery", SHOPS, "B", id="letter-paren-with-option-text"),
    P("B. Sun Bakery", SHOPS, "B", id="letter-period-with-option-text"),
    P("B - Sun Bakery", SHOPS, "B", id="letter-dash-option-text"),
    P("Option B: Sun Bakery", SHOPS, "B", id="option-word-letter-colon-text"),
    P("Option: B", SHOPS, "B", id="option-colon-letter"),
    P("B. 4", COUNTS, "B", id="letter-followed-by-number-option"),
    P("B 4", COUNTS, "B", id="letter-space-number-option"),
    P("B because the sign over the door reads Sun Bakery.", SHOPS, "B", id="letter-because"),
    # ---- answer statements ----------------------------------------------------------------------------------------
    P("Answer: C", SHOPS, "C", id="answer-colon"),
    P("ANSWER: B", SHOPS, "B", id="answer-uppercase"),
    P("answer: d", SHOPS, "D", id="answer-lowercase"),
    P("The answer is C.", SHOPS, "C", id="the-answer-is"),
    P("The answer is: B", SHOPS, "B", id="the-answer-is-colon"),
    P("The correct answer is (D).", SHOPS, "D", id="correct-answer-parens"),
    P("The correct option is C.", SHOPS, "C", id="correct-option-is"),
    P("My answer is A.", SHOPS, "A", id="my-answer-is-A"),
    P("The answer would be B.", SHOPS, "B", id="answer-would-be"),
    P("The best choice is D.", SHOPS, "D", id="best-choice-is"),
    P("**Answer:** B", SHOPS, "B", id="markdown-answer-label"),
    P("### Answer\n**B**", SHOPS, "B", id="markdown-heading-then-letter"),
    P("- **Answer**: C", SHOPS, "C", id="markdown-bullet-answer"),
    P("Answer: (C) Green Grocer", SHOPS, "C", id="answer-letter-and-matching-text"),
    P("The answer is option B.", SHOPS, "B", id="answer-is-option-letter"),
    P("The answer is A because the green sign says Lucky Mart.", SHOPS, "A", id="answer-A-because"),
    P("Based on the image, I'd say the correct answer is likely C.", SHOPS, "C", id="answer-is-likely"),
    P("I'd choose B.", SHOPS, "B", id="i-would-choose-contracted"),
    P("I would choose B.", SHOPS, "B", id="i-would-choose"),
    P("I pick C", SHOPS, "C", id="i-pick"),
    P("I'll go with D.", SHOPS, "D", id="go-with"),
    P("Option C is correct.", SHOPS, "C", id="option-is-correct"),
    P("D is the answer.", SHOPS, "D", id="letter-is-the-answer"),
    P("B is correct: the awning shows a loaf of bread.", SHOPS, "B", id="letter-is-correct"),
    P("A is correct.", SHOPS, "A", id="A-is-correct"),
    P("It is D.", SHOPS, "D", id="it-is-letter"),
    P("I think it's B.", SHOPS, "B", id="i-think-its-letter"),
    P("So, B.", SHOPS, "B", id="so-letter"),
    P("Answer: The store is Sun Bakery, so B.", SHOPS, "B", id="answer-prose-then-so-letter"),
    P('{"answer": "B"}', SHOPS, "B", id="json-answer-field"),
    P("A is wrong, B is correct.", SHOPS, "B", id="eliminate-then-correct"),
    P(
        "Let's check each option:\nA. Lucky Mart - the sign does not say this.\nB. Sun Bakery - matches the sign.\n"
        "C. Green Grocer - no.\nD. Blue Cafe - no.\n\nTherefore, the answer is B.",
        SHOPS, "B", id="walk-through-options-then-answer",
    ),
    P("A) Lucky Mart B) Sun Bakery C) Green Grocer D) Blue Cafe\nAnswer: B", SHOPS, "B",
      id="echoed-options-then-answer"),
    P(
        "The answer is B.\n\nExplanation: Option A (Lucky Mart) is incorrect because the sign says Sun Bakery.",
        SHOPS, "B", id="answer-then-explanation-mentions-other-option",
    ),
    P("The correct answer is B because the sign says Sun Bakery.", SHOPS, "B", id="answer-with-agreeing-text"),
    P("The answer is B, not Lucky Mart.", SHOPS, "B", id="answer-with-negated-other-text"),
    P("The answer is C. Open hours are posted.", ("Open", "Closed", "Unknown"), "C",
      id="next-sentence-is-not-the-clause"),
    P("The answer is B. The store is closed.", ("Open", "Closed", "Unknown"), "B", id="next-sentence-agrees"),
    P("B (Sun Bakery)", SHOPS, "B", id="letter-then-bracketed-text"),
    P("Neither A nor B; it's C.", SHOPS, "C", id="neither-nor-then-its-letter"),
    P('{"reasoning": "A store sign reads Green Grocer.", "answer": "C"}', SHOPS, "C", id="json-with-reasoning-field"),
    P("Sun Bakery is the correct answer.", SHOPS, "B", id="option-text-is-correct"),
    P("答案是：B、月亮咖啡", SHOPS_ZH, "B", id="zh-letter-dunhao-text"),
    P("选B。理由：招牌上写着“月亮咖啡”。", SHOPS_ZH, "B", id="zh-choice-then-reason"),
    P("选项A：阳光面包房，与招牌不符；选项B：月亮咖啡，与招牌一致。因此选B。", SHOPS_ZH, "B",
      id="zh-options-judged-then-choice"),
    P("这家店的招牌写着“月亮咖啡”，所以正确答案是B。", SHOPS_ZH, "B", id="zh-reason-then-answer"),
    P("Based on my analysis, option D is the most likely answer.", SHOPS, "D", id="option-most-likely-answer"),
    P("I'm not sure, but I would guess C.", SHOPS, "C", id="hedged-guess-letter"),
    P("Ans: D", SHOPS, "D", id="ans-abbreviation"),
    P("Correct option: (b)", SHOPS, "B", id="correct-option-lowercase-bracketed"),
    P("b) Sun Bakery", SHOPS, "B", id="lowercase-label-with-text"),
    P("The correct answer is not A, it's B.", SHOPS, "B", id="negated-letter-then-letter"),
    # ---- Chinese answer statements -------------------------------------------------------------------------------
    P("答案：C", SHOPS_ZH, "C", id="zh-answer-fullwidth-colon"),
    P("答案:C", SHOPS_ZH, "C", id="zh-answer-colon"),
    P("答案是C", SHOPS_ZH, "C", id="zh-answer-is"),
    P("答案为 D", SHOPS_ZH, "D", id="zh-answer-wei"),
    P("答案为 D 选项", SHOPS_ZH, "D", id="zh-answer-letter-then-xuanxiang"),
    P("正确答案是B。", SHOPS_ZH, "B", id="zh-correct-answer-is"),
    P("正确答案应该是C。", SHOPS_ZH, "C", id="zh-answer-should-be"),
    P("正确选项是A", SHOPS_ZH, "A", id="zh-correct-option-is"),
    P("选C", SHOPS_ZH, "C", id="zh-xuan"),
    P("选择B", SHOPS_ZH, "B", id="zh-xuanze"),
    P("应选D。", SHOPS_ZH, "D", id="zh-ying-xuan"),
    P("故选D", SHOPS_ZH, "D", id="zh-gu-xuan"),
    P("我选B", SHOPS_ZH, "B", id="zh-wo-xuan"),
    P("这道题选B吧", SHOPS_ZH, "B", id="zh-xuan-with-particle"),
    P("选项B", SHOPS_ZH, "B", id="zh-xuanxiang"),
    P("B选项", SHOPS_ZH, "B", id="zh-letter-then-xuanxiang"),
    P("B项正确", SHOPS_ZH, "B", id="zh-letter-xiang-correct"),
    P("A不正确，B正确。", SHOPS_ZH, "B", id="zh-A-wrong-B-right"),
    P("选项A错误，选项B正确。", SHOPS_ZH, "B", id="zh-option-A-wrong-option-B-right"),
    P("答：B", SHOPS_ZH, "B", id="zh-da-colon"),
    P("根据招牌，答案选B。", SHOPS_ZH, "B", id="zh-answer-xuan"),
    P("我认为应该选择B选项，因为招牌上写着月亮咖啡。", SHOPS_ZH, "B", id="zh-choose-with-agreeing-reason"),
    P("根据图片，店铺名称是“阳光面包房”，选A。", SHOPS_ZH, "A", id="zh-text-and-letter-agree"),
    P("图中店铺名为月亮咖啡，对应选项B。", SHOPS_ZH, "B", id="zh-text-then-option-letter"),
    P("答案：月亮咖啡（B）", SHOPS_ZH, "B", id="zh-answer-text-with-letter"),
    P("答案不是A，而是B", SHOPS_ZH, "B", id="zh-not-A-but-B"),
    P("答案：B\n解析：招牌上写的是“月亮咖啡”，不是阳光面包房。", SHOPS_ZH, "B", id="zh-answer-then-analysis"),
    P("最终答案：D", SHOPS_ZH, "D", id="zh-final-answer"),
    P("答案：Ｃ", SHOPS_ZH, "C", id="zh-fullwidth-letter"),
    P("（Ｂ）", SHOPS_ZH, "B", id="fullwidth-parens-and-letter"),
    P("Ｂ", SHOPS, "B", id="fullwidth-bare-letter"),
    P("ＡＮＳＷＥＲ：Ｄ", SHOPS, "D", id="fullwidth-answer-label"),
    # ---- option text instead of a letter ----------------------------------------------------------------------------
    P("Sun Bakery", SHOPS, "B", id="exact-option-text"),
    P("sun bakery.", SHOPS, "B", id="option-text-case-and-period"),
    P("**Blue Cafe**", SHOPS, "D", id="option-text-markdown"),
    P("The shop is Green Grocer.", SHOPS, "C", id="contains-one-option-text"),
    P("The sign above the entrance clearly reads “Blue Cafe”.", SHOPS, "D", id="contains-quoted-option-text"),
    P("阳光面包房", SHOPS_ZH, "A", id="zh-exact-option-text"),
    P("店名是月亮咖啡。", SHOPS_ZH, "B", id="zh-contains-option-text"),
    P("门上挂着“已关门”的牌子。", STATUS_ZH, "B", id="zh-status-text"),
    P("所有以上", SEED_LABELLED, "D", id="seed-labelled-option-text"),
    P("D", SEED_LABELLED, "D", id="seed-labelled-letter"),
    P("There are 4 chairs at the counter.", COUNTS, "B", id="number-option-in-sentence"),
    P("There are 14 chairs.", COUNTS, None, id="number-inside-larger-number"),
    P("The price tag shows ¥15.", PRICES, "B", id="price-option-text"),
    P("Yes", YES_NO, "A", id="yes-exact"),
    P("No, the shutter is down.", YES_NO, "B", id="no-first-phrase"),
    P("Yes, there is no hairnet visible on the shelf.", YES_NO, "A", id="yes-first-phrase-then-no-word"),
    P("否，店铺未营业。", SHI_FOU, "B", id="zh-fou-first-phrase"),
    P("是", SHI_FOU, "A", id="zh-shi-exact"),
    P("A hairnet is hanging by the door.", FIVE, "E", id="article-A-then-option-text"),
    # ---- reasoning blocks and final answers -----------------------------------------------------------------------
    P("<think>The sign might say Lucky Mart, so A? No, it's B.</think>\n\nB", SHOPS, "B", id="think-block-stripped"),
    P("<think>Answer: A</think>The answer is C.", SHOPS, "C", id="think-block-answer-ignored"),
    P("I compare the signs... so A? no.</think>\nD", SHOPS, "D", id="closing-think-only"),
    P("<think>The answer is A, I think, but let me check the", SHOPS, None, id="truncated-think-no-answer"),
    P("Let me look. A seems wrong. B maybe.\nFinal answer: C", SHOPS, "C", id="final-answer-overrides-earlier"),
    P("Answer: A\nWait, the awning is green.\nFinal Answer: C", SHOPS, "C", id="final-answer-overrides-answer"),
    P("Final answer:\n\nB", SHOPS, "B", id="final-answer-next-line"),
    P("My final answer is **D**.", SHOPS, "D", id="final-answer-markdown"),
    P("The sign reads Sun Bakery. \\boxed{B}", SHOPS, "B", id="latex-boxed"),
    P("$\\boxed{\\text{C}}$", SHOPS, "C", id="latex-boxed-text"),
    P("<answer>B</answer>", SHOPS, "B", id="answer-tag"),
    P("Before my final answer, compare A and B.\nThe answer is A.", SHOPS, "A",
      id="final-answer-phrase-without-answer"),
    P("思考：招牌写的是星星超市。\n最终答案：C", SHOPS_ZH, "C", id="zh-reasoning-then-final"),
    # ---- letters outside the options ------------------------------------------------------------------------------
    P("E", SHOPS, None, id="letter-outside-four-options"),
    P("Answer: E", SHOPS, None, id="answer-outside-options"),
    P("E", FIVE, "E", id="letter-E-with-five-options"),
    P("Answer: E", FIVE, "E", id="answer-E-with-five-options"),
    P("答案：F", FIVE, None, id="zh-answer-outside-options"),
    P("I", TEN, "I", id="letter-I-with-ten-options"),
    P("The answer is I.", TEN, "I", id="answer-I-with-ten-options"),
    P("I think B is right.", TEN, "B", id="pronoun-I-with-ten-options"),
    P("I think the shelf is empty.", TEN, None, id="pronoun-I-only-with-ten-options"),
    # ---- traps: letters inside words, articles, names -------------------------------------------------------------
    P("Answer", SHOPS, None, id="trap-word-answer"),
    P("A store is open", SHOPS, None, id="trap-article-A-store"),
    P("A store is open on the corner.", SHOPS_ZH, None, id="trap-article-A-store-zh-options"),
    P("The...", SHOPS, None, id="trap-the-ellipsis"),
    P("I think", SHOPS, None, id="trap-i-think"),
    P("As shown in the image, the awning is striped.", SHOPS, None, id="trap-as-shown"),
    P("The answer is a bakery.", SHOPS, None, id="trap-answer-is-article"),
    P("Answer: a small shop with a red door", SHOPS, None, id="trap-answer-colon-article"),
    P("A.M. opening hours are posted on the door.", SHOPS, None, id="trap-am-abbreviation"),
    P("e.g. the sign is blurry", SHOPS, None, id="trap-eg"),
    P("A-frame sign stands outside.", SHOPS, None, id="trap-a-frame"),
    P("Vitamin C drinks are on the top shelf.", SHOPS, None, id="trap-vitamin-c"),
    P("Plan B would be to ask the staff.", SHOPS, None, id="trap-plan-b"),
    P("The store in area B is open.", SHOPS, None, id="trap-area-b"),
    P("A区的货架上有面包", SHOPS_ZH, None, id="trap-zh-zone-A"),
    P("答案是A店", SHOPS_ZH, None, id="trap-zh-store-A"),
    P("B is wrong.", SHOPS, None, id="trap-statement-about-B"),
    P("I cannot read the sign clearly.", SHOPS, None, id="trap-cannot-tell"),
    P("", SHOPS, None, id="empty-response"),
    P("   \n", SHOPS, None, id="whitespace-response"),
    # ---- contradictions and several answers -----------------------------------------------------------------------
    P("B) Lucky Mart", SHOPS, None, id="letter-and-other-option-text"),
    P("b) Lucky Mart", SHOPS, None, id="lowercase-letter-and-other-option-text"),
    P("B. 5", COUNTS, None, id="letter-and-other-number-option"),
    P("The answer is C, Sun Bakery.", SHOPS, None, id="answer-letter-disagrees-with-text"),
    P("Sun Bakery (C)", SHOPS, None, id="text-labelled-with-other-letter"),
    P("根据图片，店铺名称是“阳光面包房”，选B。", SHOPS_ZH, None, id="zh-text-and-letter-disagree"),
    P("答案是B：阳光面包房", SHOPS_ZH, None, id="zh-answer-letter-with-other-text"),
    P("A or B", SHOPS, None, id="two-letters-or"),
    P("A and C both look plausible.", SHOPS, None, id="two-letters-and"),
    P("AB", SHOPS, None, id="two-letters-glued"),
    P("A, C", SHOPS, None, id="two-letters-comma"),
    P("Answer: A or B", SHOPS, None, id="answer-two-letters"),
    P("Let's check each option:\nA. Lucky Mart\nB. Sun Bakery", SHOPS, None, id="each-option-colon-is-not-an-answer"),
    P("答案：AC", SHOPS_ZH, None, id="zh-two-letters-glued"),
    P("Answer: A. Wait, actually the answer is C.", SHOPS, None, id="self-correction-without-final"),
    P("A. Lucky Mart\n\nWait, looking again, it's B.", SHOPS, None, id="leading-letter-then-its-letter"),
    P("It is Blue Cafe, not Sun Bakery.", SHOPS, "D", id="its-option-text-then-negated-other"),
    P("Blue Cafe, not Sun Bakery.", SHOPS, "D", id="option-text-first-phrase-then-negated-other"),
    P("The sign says Blue Cafe, not Sun Bakery.", SHOPS, None, id="option-text-and-negated-other-text"),
    P("(A) or (D), hard to say.", SHOPS, None, id="two-bracketed-letters"),
    P("A. Lucky Mart\nB. Sun Bakery\nC. Green Grocer\nD. Blue Cafe", SHOPS, None, id="options-echoed-only"),
    P("A: Lucky Mart - no\nB: Sun Bakery - yes", SHOPS, None, id="options-judged-one-by-one"),
    P("None of the options match the sign.", SHOPS, None, id="none-of-the-options"),
    P("It is either Sun Bakery or Blue Cafe.", SHOPS, None, id="two-option-texts"),
    P("The store is not Sun Bakery.", SHOPS, None, id="negated-option-text"),
    P("不是阳光面包房", SHOPS_ZH, None, id="zh-negated-option-text"),
    P("店门口没有营业中的标志。", STATUS_ZH, None, id="zh-negated-status-text"),
]


@pytest.mark.parametrize(("response", "options", "expected"), CASES)
def test_extract_choice(response: str, options: tuple[str, ...], expected: str | None) -> None:
    assert extract_choice(response, options) == expected


def test_table_is_large_and_ids_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 120
    assert len(set(ids)) == len(ids)


def test_every_reading_explains_itself() -> None:
    reading = read_choice("Answer: A or B", SHOPS)
    assert reading.letter is None
    assert "A" in reading.note and "B" in reading.note
    reading = read_choice("Final answer: C", SHOPS)
    assert (reading.letter, reading.rule) == ("C", "final-answer")


def test_no_options_reads_nothing() -> None:
    assert extract_choice("B", ()) is None


def test_more_options_than_letters_is_refused() -> None:
    with pytest.raises(ValueError, match="26"):
        extract_choice("B", tuple(str(n) for n in range(27)))


def test_list_options_work_like_tuples() -> None:
    assert extract_choice("The answer is C.", list(SHOPS)) == "C"


# ---- properties -----------------------------------------------------------------------------------------------------

option_sets = st.integers(min_value=2, max_value=8).map(lambda n: tuple(f"Shelf {n}{i}" for i in range(n)))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120), option_sets)
def test_result_is_none_or_a_letter_within_range(response: str, options: tuple[str, ...]) -> None:
    letter = extract_choice(response, options)
    assert letter is None or letter in "ABCDEFGH"[: len(options)]


@settings(max_examples=100, deadline=None)
@given(option_sets, st.data())
def test_each_letter_reads_back_in_common_forms(options: tuple[str, ...], data) -> None:
    letter = data.draw(st.sampled_from("ABCDEFGH"[: len(options)]))
    form = data.draw(st.sampled_from(["{}", "({})", "{}.", "Answer: {}", "The answer is {}.", "答案：{}", "选{}"]))
    assert extract_choice(form.format(letter), options) == letter


# ---- the registered scorer and the registry -------------------------------------------------------------------------

MCQ = ScoringTarget("mcq", SHOPS, "B")


@pytest.mark.parametrize(
    ("response", "score", "extracted", "unparsed"),
    [
        ("The answer is B.", 1.0, "B", False),
        ("Answer: C", 0.0, "C", False),
        ("Sun Bakery", 1.0, "B", False),
        ("A store is open", 0.0, None, True),
        ("A or B", 0.0, None, True),
    ],
)
def test_choice_scorer(response: str, score: float, extracted: str | None, unparsed: bool) -> None:
    result = get_scorer("choice")(response, MCQ)
    assert (result.score, result.extracted, result.unparsed) == (score, extracted, unparsed)
    assert result.details["expected"] == "B"
    json.dumps(result.details)


def test_choice_scorer_needs_options() -> None:
    with pytest.raises(ValueError, match="options"):
        get_scorer("choice")("B", ScoringTarget("mcq", (), "B"))


def test_defaults_name_registered_scorers() -> None:
    assert dict(DEFAULT_FORMAT_SCORERS) == {AnswerFormat.MCQ: "choice", AnswerFormat.FORMAT: "structured",
                                            AnswerFormat.OPEN: "token_f1"}
    assert {"choice", "structured", "token_f1", "exact_match"} <= set(SCORERS)
    for name in DEFAULT_FORMAT_SCORERS.values():
        assert get_scorer(name) is SCORERS[name]


def test_unknown_scorer_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError) as caught:
        get_scorer("bleu")
    assert isinstance(caught.value, UnknownScorerError)
    assert "bleu" in str(caught.value) and "choice" in str(caught.value) and "token_f1" in str(caught.value)


def test_register_a_scorer_and_refuse_a_clashing_name() -> None:
    @scorer("test-always-half")
    def always_half(response: str, target: ScoringTarget) -> ScoreResult:
        return ScoreResult(0.5, response, False, {})

    try:
        assert get_scorer("test-always-half")("x", MCQ).score == 0.5
        with pytest.raises(ValueError, match="already registered"):
            scorer("choice")(always_half)
    finally:
        registry._SCORERS.pop("test-always-half", None)
    with pytest.raises(TypeError):
        SCORERS["x"] = always_half  # type: ignore[index]  # the public view is read-only


@pytest.mark.parametrize("score", [-0.1, 1.5, float("nan")])
def test_score_result_refuses_scores_outside_unit_interval(score: float) -> None:
    with pytest.raises(ValueError):
        ScoreResult(score, None, True, {})


def test_scoring_target_checks_format_and_reads_pipeline_rows() -> None:
    with pytest.raises(ValueError, match="^format must be one of mcq, format, open; got 'essay'$"):
        ScoringTarget("essay")
    assert ScoringTarget("format", None, '{"a": 1}', {"required": ["a"]}) == \
        ScoringTarget("format", (), '{"a": 1}', {"required": ["a"]})
    assert ScoringTarget("mcq", ["x", "y"], "A").options == ("x", "y")
    # pandas rows from Arrow hold list columns as numpy arrays
    numpy = pytest.importorskip("numpy")
    assert ScoringTarget("mcq", numpy.array(["x", "y"], dtype=object), "A").options == ("x", "y")
