"""`compare` of two runs (paired deltas, the test chosen, flips) and the gate's baseline check."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.config import BaselineConfig, ConfigError, GateConfig, StatisticsConfig, load_section
from ray_eval.errors import UsageError
from ray_eval.outputs import report as report_module
from ray_eval.outputs.report import content_security_policy
from ray_eval.outputs.summary import comparison_markdown
from ray_eval.verdict.compare import compare_runs
from ray_eval.verdict.comparison_verdict import ComparisonVerdict, comparison_verdict, too_few_reason
from ray_eval.verdict.gate import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_PASSED, baseline_check, evaluate_gate, verdict
from ray_eval.verdict.summary_model import Comparison, PairedGroupScores
from tests.unit import summary_parts as parts

FAST = StatisticsConfig(bootstrap_resamples=300)


def write_run(run_dir: Path, rows: list[dict], model: str = "m", fingerprint: str = "fp") -> Path:
    """A finished run directory holding what `compare` reads: results.parquet and summary.json."""
    run_dir.mkdir(parents=True)
    defaults = {"subset": "ShopFront", "format": "mcq", "l1": "Perception", "l2": None, "l3": None, "l4": None,
                "weight": 1.0, "status": "ok", "extracted": "A", "media_digests": None}
    table = pa.Table.from_pylist([defaults | row for row in rows])
    pq.write_table(table, run_dir / "results.parquet")
    summary = parts.summary(run_dir.name, model, fingerprint)
    (run_dir / "summary.json").write_text(json.dumps(summary.stored()), encoding="utf-8")
    return run_dir


def mcq_rows(correct: list[bool], prefix: str = "s") -> list[dict]:
    return [{"sample_id": f"{prefix}{i}", "score": float(ok), "passed": ok, "extracted": "A" if ok else "B"}
            for i, ok in enumerate(correct)]


def test_binary_scores_use_mcnemar_and_list_flips_lost_first(tmp_path: Path) -> None:
    baseline = [True] * 30 + [False] * 10
    candidate = [True] * 24 + [False] * 6 + [True] * 2 + [False] * 8  # 6 lost, 2 gained
    a = write_run(tmp_path / "a", mcq_rows(baseline), model="base")
    b = write_run(tmp_path / "b", mcq_rows(candidate), model="cand")
    result = compare_runs(b, a, FAST)
    overall = result.overall
    assert result.paired_samples == 40 and result.notes == []
    assert overall.test == "mcnemar"
    assert overall.baseline_score == pytest.approx(75.0) and overall.candidate_score == pytest.approx(65.0)
    assert overall.delta == pytest.approx(-10.0)
    assert overall.delta_ci[0] < -10.0 < overall.delta_ci[1]
    # exact two-sided binomial on 8 discordant pairs split 2/6 (p is stored to 6 decimals)
    assert overall.p_value == pytest.approx(2 * sum(math.comb(8, k) for k in range(3)) / 2**8, abs=1e-6)
    assert result.flipped_total.model_dump() == {"gained": 2, "lost": 6}
    assert [f.change for f in result.flipped] == ["lost"] * 6 + ["gained"] * 2
    assert result.flipped[0].baseline_extracted == "A" and result.flipped[0].candidate_extracted == "B"
    assert result.baseline.model == "base" and result.candidate.model == "cand"


def test_partial_scores_use_the_paired_bootstrap_and_only_shared_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base_scores = rng.uniform(0, 1, 50)
    rows_a = [{"sample_id": f"s{i}", "format": "open", "score": float(x), "passed": x >= 0.5}
              for i, x in enumerate(base_scores)]
    rows_b = [{"sample_id": f"s{i}", "format": "open", "score": float(min(1.0, x + 0.2)), "passed": x + 0.2 >= 0.5}
              for i, x in enumerate(base_scores[:45])] + [{"sample_id": "new", "score": 1.0, "passed": True}]
    a = write_run(tmp_path / "a", rows_a, fingerprint="one")
    b = write_run(tmp_path / "b", rows_b, fingerprint="two")
    result = compare_runs(b, a, FAST)
    assert result.paired_samples == 45 and result.only_in_baseline == 5 and result.only_in_candidate == 1
    assert any("different datasets" in note for note in result.notes)
    overall = result.overall
    assert overall.test == "paired_bootstrap" and overall.significant and overall.delta > 0
    assert overall.delta_ci[0] > 0


def test_errors_count_as_wrong_and_flip(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", mcq_rows([True, True]))
    b_rows = mcq_rows([True, True])
    b_rows[1] |= {"status": "error", "score": 0.0, "passed": False}
    b = write_run(tmp_path / "b", b_rows)
    result = compare_runs(b, a, FAST)
    assert result.overall.delta == pytest.approx(-50.0)
    assert [flip.model_dump() for flip in result.flipped] == [{
        "sample_id": "s1", "subset": "ShopFront", "format": "mcq", "change": "lost", "baseline_extracted": "A",
        "candidate_extracted": "A", "baseline_error": False, "candidate_error": True}]


def test_flips_of_unparsed_answers_keep_their_null_extraction(tmp_path: Path) -> None:
    """A lost sample the candidate left unparsed and a gained one the baseline left unparsed: the null extractions
    survive the join of lost and gained rows (pandas made them NaN, which the comparison refused: the run crashed)."""
    a_rows, b_rows = mcq_rows([True, False]), mcq_rows([False, True])
    a_rows[1] |= {"extracted": None}
    b_rows[0] |= {"extracted": None}
    result = compare_runs(write_run(tmp_path / "b", b_rows), write_run(tmp_path / "a", a_rows), FAST)
    assert [(flip.sample_id, flip.change, flip.baseline_extracted, flip.candidate_extracted)
            for flip in result.flipped] == [("s0", "lost", "A", None), ("s1", "gained", None, "A")]


def test_unpairable_runs_are_refused(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", mcq_rows([True, False]))
    with pytest.raises(UsageError, match="nowhere is not a finished run directory"):
        compare_runs(a, tmp_path / "nowhere", FAST)
    dup = write_run(tmp_path / "dup", [*mcq_rows([True]), *mcq_rows([False])])
    with pytest.raises(UsageError, match="sample ids repeat"):
        compare_runs(dup, a, FAST)


def comparison(delta: float, ci: tuple[float, float], n: int, p_regressed: float = 0.5) -> Comparison:
    return parts.comparison(paired_samples=n, overall=parts.paired_group(n=n, delta=delta, delta_ci=list(ci),
                                                                         p_regressed=p_regressed))


@pytest.mark.parametrize(
    ("delta", "ci", "n", "p_regressed", "outcome"),
    [
        (0.5, (-0.8, 1.8), 500, 0.9, "passed"),  # the whole interval above -1
        (-4.0, (-6.0, -2.0), 500, 0.001, "failed"),  # wholly below -1: a significant regression
        (-0.5, (-3.0, 2.0), 500, 0.3, "undecided"),  # straddles -1: too few samples to decide
        (0.0, (0.0, 0.0), 10, 0.5, "undecided"),  # fewer shared samples than required
    ],
)
def test_baseline_check_outcomes(delta: float, ci: tuple[float, float], n: int, p_regressed: float,
                                 outcome: str) -> None:
    check = baseline_check(comparison(delta, ci, n, p_regressed),
                           BaselineConfig(run_dir=Path("x"), max_regression=1.0, min_paired_samples=30))
    assert check.outcome == outcome and check.passed == (outcome == "passed")
    assert check.threshold == -1.0
    if outcome == "undecided":
        assert "too few samples to decide" in check.note


def test_baseline_check_is_undecided_when_the_shared_samples_form_one_media_cluster() -> None:
    one_cluster = comparison(-5.0, (-5.0, -5.0), 200)
    one_cluster.overall.clusters = 1  # models are mutable: one field changed, the rest as built
    check = baseline_check(one_cluster, BaselineConfig(run_dir=Path("x"), max_regression=1.0))
    assert check.outcome == "undecided" and not check.passed
    assert check.note == ("too few samples to decide: the 200 samples shared with the baseline run form one media "
                          "cluster, so the paired interval has no width")


def test_undecided_is_its_own_verdict_and_not_a_pass() -> None:
    gate = GateConfig(baseline={"run_dir": "x", "min_paired_samples": 30})
    scores = parts.scores(parts.group_scores(n=10))
    checks = evaluate_gate(scores, gate, comparison=comparison(0.0, (-5.0, 5.0), 10))
    decision = verdict(checks)
    assert decision.status == "undecided" and not decision.passed and decision.exit_code == EXIT_FAILED
    assert "too few samples to decide" in decision.reason
    passing = verdict(evaluate_gate(scores, gate, comparison=comparison(1.0, (0.2, 1.8), 100)))
    assert passing.status == "passed" and passing.exit_code == EXIT_PASSED
    with pytest.raises(ValueError, match="no comparison"):
        evaluate_gate(scores, gate)


def test_compare_command_prints_the_delta_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = write_run(tmp_path / "a", mcq_rows([True] * 20 + [False] * 20))
    b = write_run(tmp_path / "b", mcq_rows([True] * 30 + [False] * 10))
    code = main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp"),
                 "--set", "statistics.bootstrap_resamples=200"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Verdict: improved" in out and "+25.0 points" in out and "McNemar's test" in out
    written = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert written["flipped_total"] == {"gained": 10, "lost": 0}
    assert written["verdict"] == "improved" and written["overall"]["verdict"] == "improved"
    assert written["overall"]["clusters"] == 40 and written["min_paired_samples"] == 30
    assert main(["compare", str(a), str(b), "--set", "gate.min_score=3"]) == 2


def test_load_section_reads_one_section_and_names_bad_fields(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("dataset: {path: x}\nstatistics: {confidance: 0.9}\n")
    with pytest.raises(ConfigError, match=r"statistics\.confidance: unknown field \(did you mean 'confidence'"):
        load_section("statistics", StatisticsConfig, config)
    config.write_text("statistics: {confidence: 0.9}\n")
    assert load_section("statistics", StatisticsConfig, config, ["statistics.seed=7"]) == StatisticsConfig(
        confidence=0.9, seed=7)


# ---- the verdict word ---------------------------------------------------------------------------------------------


def group(delta: float, ci: tuple[float, float], p: float, n: int = 100, clusters: int | None = 100,
          test: str = "mcnemar") -> PairedGroupScores:
    """A stored paired group as compare writes it (clusters None: written before clusters were counted)."""
    return parts.paired_group(n=n, clusters=clusters, baseline_score=60.0, candidate_score=60.0 + delta, delta=delta,
                              delta_ci=list(ci), p_value=p, test=test, significant=p < 0.05)


@pytest.mark.parametrize(
    ("stored", "verdict", "reason"),
    [
        (group(-4.0, (-6.0, -2.0), 0.001), ComparisonVerdict.REGRESSED, None),
        (group(3.0, (1.0, 5.0), 0.01), ComparisonVerdict.IMPROVED, None),
        (group(-1.0, (-3.0, 1.0), 0.3), ComparisonVerdict.NO_CHANGE, None),
        # two identical runs: every difference is 0 over many clusters, a zero-width interval that is evidence
        (group(0.0, (0.0, 0.0), 1.0), ComparisonVerdict.NO_CHANGE, None),
        # small and not significant: no evidence either way
        (group(-5.0, (-20.0, 10.0), 0.5, n=29, clusters=29), ComparisonVerdict.TOO_FEW, "29 paired samples, 30 needed"),
        # small and significant by McNemar's exact test, which holds at any size: a regression
        (group(-20.0, (-30.0, -10.0), 0.001, n=29, clusters=29), ComparisonVerdict.REGRESSED, None),
        # small and "significant" by a bootstrap p-value, which does not hold at this size
        (group(-20.0, (-30.0, -10.0), 0.001, n=29, clusters=29, test="paired_bootstrap"), ComparisonVerdict.TOO_FEW,
         "29 paired samples, 30 needed"),
        (group(-33.3333, (-33.3333, -33.3333), 0.001, n=60, clusters=1), ComparisonVerdict.TOO_FEW,
         "the 60 paired samples share one media cluster, so the interval has no width"),
        # a comparison written before clusters were counted: a zero-width interval is all that shows it
        (group(-33.3333, (-33.3333, -33.3333), 0.001, n=60, clusters=None), ComparisonVerdict.TOO_FEW,
         "the 60 paired samples share one media cluster, so the interval has no width"),
        (None, ComparisonVerdict.TOO_FEW, "no sample is shared by the two runs"),
    ],
)
def test_comparison_verdict_word(stored: PairedGroupScores | None, verdict: ComparisonVerdict,
                                 reason: str | None) -> None:
    constructed = parts.comparison(overall=stored, paired_samples=stored.n if stored else 0)
    assert comparison_verdict(constructed) is verdict
    assert too_few_reason(constructed) == reason


def test_the_minimum_is_the_comparisons_own() -> None:
    stored = group(-4.0, (-6.0, -2.0), 0.001, n=40, clusters=40, test="paired_bootstrap")
    assert comparison_verdict(parts.comparison(overall=stored)) is ComparisonVerdict.REGRESSED
    assert comparison_verdict(parts.comparison(overall=stored, min_paired_samples=50)) is ComparisonVerdict.TOO_FEW
    assert ComparisonVerdict.TOO_FEW.row_word == "too few to tell"
    assert ComparisonVerdict.REGRESSED.row_word == "regressed"


# ---- `ray-eval compare`: text, exit code, HTML ------------------------------------------------------------------


def regression_runs(tmp_path: Path, model: str = "ostrakon-vl-8b") -> tuple[Path, Path]:
    """Baseline right on all 40 ShopFront and 4 Kitchen samples; the candidate loses 20 ShopFront samples
    (p < 0.001) and two of the Kitchen ones, which all show one image (one cluster). Same model label for both."""
    rows = mcq_rows([True] * 44)
    for row in rows[40:]:
        row |= {"subset": "Kitchen", "media_digests": ["kitchen-photo"]}
    candidate = [dict(row) for row in rows]
    for row in candidate[:20] + candidate[40:42]:
        row |= {"score": 0.0, "passed": False, "extracted": "B"}
    candidate[0]["extracted"] = "B\x1b[31m red\nsecond line"  # an answer with an escape sequence and a line break
    return (write_run(tmp_path / "base-0412", rows, model=model),
            write_run(tmp_path / "cand-0519", candidate, model=model))


def run_compare(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(["compare", *args, "--set", "statistics.bootstrap_resamples=200"])
    return code, capsys.readouterr().out


def test_compare_prints_plain_aligned_text_with_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    baseline, candidate = regression_runs(tmp_path)
    code, out = run_compare(capsys, str(baseline), str(candidate))
    assert code == 0  # without --fail-on-regression a regression is reported, not an error
    lines = out.splitlines()
    assert lines[0] == ("Comparison of candidate ostrakon-vl-8b (run cand-0519) with baseline ostrakon-vl-8b "
                        "(run base-0412)")
    assert lines[1] == "Verdict: regressed"
    assert lines[2].startswith("Change (candidate − baseline): -50.0 points [")
    assert "100.0 → 50.0, p < 0.001 (McNemar's test), 44 paired samples; flipped: 0 gained, 22 lost." in lines[2]
    assert "\\" not in out and "**" not in out and "|" not in out and "\x1b" not in out
    header = next(line for line in lines if line.startswith("group"))
    assert [cell.strip() for cell in header.split("  ") if cell.strip()] == [
        "group", "paired n", "baseline score", "candidate score", "change (points)", "interval", "p", "test",
        "verdict"]
    table = lines[lines.index(header):]
    rows = {line.split("  ")[0].strip(): line for line in table[2:6]}
    assert set(rows) == {"overall", "subset Kitchen", "subset ShopFront", "format mcq"}
    assert rows["overall"].endswith("p < 0.001  McNemar's test  regressed")
    kitchen = rows["subset Kitchen"]
    assert "none: one media cluster" in kitchen and kitchen.endswith("too few to tell")
    assert "[-50.0, -50.0]" not in out
    # the columns line up: words start under their (left-aligned) header, numbers end under theirs
    verdict_at, change_end = header.index("verdict"), header.index("change (points)") + len("change (points)")
    assert [line[verdict_at:] for line in table[2:6]] == ["regressed", "too few to tell", "regressed", "regressed"]
    assert [line[:change_end].split()[-1] for line in table[2:6]] == ["-50.0"] * 4
    flipped = next(line for line in lines[lines.index("Flipped samples:"):] if line.startswith("s0 "))
    assert flipped.split() == ["s0", "ShopFront", "lost", "A", "B\ufffd[31m", "red", "second", "line"]


def test_compare_exit_code_with_fail_on_regression(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    baseline, candidate = regression_runs(tmp_path)
    assert run_compare(capsys, str(baseline), str(candidate), "--fail-on-regression")[0] == EXIT_FAILED
    # the other way round the candidate improved: nothing to fail on
    code, out = run_compare(capsys, str(candidate), str(baseline), "--fail-on-regression")
    assert code == EXIT_PASSED and "Verdict: improved" in out
    # no change at all
    assert run_compare(capsys, str(baseline), str(baseline), "--fail-on-regression")[0] == EXIT_PASSED
    # ten of ten lost: McNemar's exact test finds the regression however few the samples
    few_base = write_run(tmp_path / "few-a", mcq_rows([True] * 10))
    code, out = run_compare(capsys, str(few_base), str(write_run(tmp_path / "few-b", mcq_rows([False] * 10))),
                            "--fail-on-regression")
    assert code == EXIT_FAILED and "Verdict: regressed" in out
    # one of ten lost: too few samples to tell, never a pass when asked to fail on a regression
    few_cand = write_run(tmp_path / "few-c", mcq_rows([True] * 9 + [False]))
    code, out = run_compare(capsys, str(few_base), str(few_cand), "--fail-on-regression")
    assert code == EXIT_FAILED and "Verdict: too few samples to tell (10 paired samples, 30 needed)" in out
    assert run_compare(capsys, str(few_base), str(few_cand))[0] == EXIT_PASSED
    assert main(["compare", str(few_base), str(tmp_path / "missing"), "--fail-on-regression"]) == EXIT_BAD_INPUT


class Html(HTMLParser):
    """Text, table rows and the <meta>/<style>/<script> parts of the comparison page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self.metas: list[dict] = []
        self.styles: list[str] = []
        self.tags: set[str] = set()
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._style: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        if tag == "meta":
            self.metas.append(dict(attrs))
        elif tag == "style":
            self._style = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style is not None:
            self.styles.append("".join(self._style))
            self._style = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style.append(data)
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)

    def row(self, first_cell: str) -> list[str]:
        return next(row for row in self.rows if row[0] == first_cell)


def test_compare_writes_the_comparison_as_html(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    baseline, candidate = regression_runs(tmp_path, model="<b>ostrakon</b>")
    page_path = tmp_path / "pages" / "comparison.html"
    code, out = run_compare(capsys, str(baseline), str(candidate), "--html", str(page_path))
    assert code == 0 and f"wrote {page_path}" in out
    html = page_path.read_text(encoding="utf-8")
    page = Html(html)
    text = " ".join("".join(page.text).split())
    assert "Verdict: regressed" in text
    assert "<b>ostrakon</b> (run base-0412," in text and "<b>ostrakon</b> (run cand-0519," in text  # escaped text
    assert "&lt;b&gt;ostrakon" in html
    heads = [row for row in page.rows if row[0] == "subset"]
    assert heads[0] == ["subset", "paired n", "baseline score", "candidate score", "change (points)", "p", "test",
                        "verdict"]
    assert page.row("ShopFront")[1:4] == ["40", "100.0", "50.0"]
    assert page.row("ShopFront")[-3:] == ["p < 0.001", "McNemar's test", "regressed"]
    assert page.row("Kitchen")[4] == "-50.0 no interval: one media cluster"
    assert page.row("Kitchen")[-1] == "too few to tell"
    assert page.row("s0")[1:5] == ["ShopFront", "mcq", "lost", "A"]
    # the report's own stylesheet and Content-Security-Policy, and no script at all
    csp = next(meta["content"] for meta in page.metas if meta.get("http-equiv") == "Content-Security-Policy")
    assert csp == content_security_policy() and "script" not in page.tags
    report_style = (Path(report_module.__file__).parent / "templates" / "_style.html.j2").read_text(encoding="utf-8")
    assert '{% include "_style.html.j2" %}' in (Path(report_module.__file__).parent / "templates" /
                                               "report.html.j2").read_text(encoding="utf-8")
    assert len(page.styles) == 1 and page.styles[0].strip() in report_style


def test_summary_md_says_the_same_in_escaped_markdown(tmp_path: Path) -> None:
    baseline, candidate = regression_runs(tmp_path, model="a|b_c")
    lines = comparison_markdown(compare_runs(candidate, baseline, FAST))
    assert lines[0] == r"### Comparison of candidate a\|b\_c \(run cand-0519\) with baseline a\|b\_c \(run base-0412\)"
    assert "Verdict: **regressed**" in lines
    assert ("| group | paired n | baseline score | candidate score | change (points) | interval | p | test | verdict |"
            in lines)
    rows = {line.split(" | ")[0]: line for line in lines if line.startswith("| overall") or line.startswith("| subset")}
    assert rows["| overall"].endswith("| p < 0.001 | McNemar's test | regressed |")
    assert rows["| subset Kitchen"].endswith(
        "| -50.0 | none: one media cluster | p = 0.500 | McNemar's test | too few to tell |")
