"""Several suites in one run's config: each with its dataset, scoring and gate; a one-dataset config is one suite
named after its file, and keeps its fingerprint (its run directories still resume)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_eval.cli import main
from ray_eval.config import load_config, suite_name_of, validate_config
from ray_eval.data.dataset import ShopBenchDatasource, scan_suites
from ray_eval.errors import ConfigError, DatasetError
from tests.conftest import mcq_row, write_jsonl

ENGINE = {"kind": "scripted"}


def suites_config(**extra) -> dict:
    return {"engine": ENGINE, "suites": [
        {"name": "shop", "dataset": {"path": "data/shop.jsonl"}, "gate": {"min_score": 60}},
        {"name": "guard-ocr", "dataset": {"path": "data/guard-ocr.tsv"},
         "scoring": {"scorers": {"open": "ocr_contains_any"}}},
    ]} | extra


def test_a_one_dataset_config_is_one_suite_named_after_its_file_with_its_scoring_and_gate() -> None:
    config = validate_config({"engine": ENGINE, "dataset": {"path": "data/Shop Bench v2.jsonl"},
                              "gate": {"min_score": 55}})
    suite, = config.evaluated_suites()
    assert (suite.name, suite.dataset, suite.gate, suite.scoring) == (
        "shop-bench-v2", config.dataset, config.gate, config.scoring)


def test_suite_names_from_files_keep_to_the_name_rule() -> None:
    assert [suite_name_of(Path(name)) for name in ("a/manifest.jsonl", "MMBench_DEV_EN.tsv", "__.json", "店.tsv")] == [
        "manifest", "mmbench_dev_en", "suite", "suite"]


def test_suites_each_keep_their_own_scoring_and_gate() -> None:
    shop, guard = validate_config(suites_config()).evaluated_suites()
    assert (shop.name, shop.gate.min_score, shop.scoring.scorers["open"]) == ("shop", 60, "token_f1")
    assert (guard.name, guard.gate.min_score, guard.scoring.scorers["open"]) == ("guard-ocr", None, "ocr_contains_any")


def test_the_fingerprint_of_a_one_dataset_config_does_not_see_suites_and_a_suites_config_counts_them() -> None:
    one = validate_config({"engine": ENGINE, "dataset": {"path": "data/shop.jsonl"}})
    assert "suites" not in one.model_dump(exclude_defaults=True)
    several = validate_config(suites_config())
    renamed = suites_config()
    renamed["suites"][1]["name"] = "guard-text"
    assert several.fingerprint() != validate_config(renamed).fingerprint() != one.fingerprint()


@pytest.mark.parametrize(("change", "message"), [
    ({"dataset": {"path": "x.jsonl"}}, "give either dataset (one suite) or suites (several), not both"),
    ({"suites": []}, "dataset or suites is required"),
    ({"scoring": {"open_pass_threshold": 0.7}}, "scoring.open_pass_threshold: with suites, each suite has its own "
                                                "scoring block (suites[i].scoring)"),
    ({"gate": {"min_score": 50}}, "gate.min_score: with suites, each suite has its own gate block (suites[i].gate)"),
])
def test_a_suites_config_refuses_what_would_be_ambiguous_in_one_line(change: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(suites_config(**change))
    assert message in str(info.value)


def test_suite_names_are_checked_and_unique() -> None:
    twice = suites_config()
    twice["suites"][1]["name"] = "shop"
    with pytest.raises(ConfigError, match="the name 'shop' is used twice"):
        validate_config(twice)
    bad = suites_config()
    bad["suites"][0]["name"] = "Shop Bench"
    with pytest.raises(ConfigError, match=r"suites\.0\.name"):
        validate_config(bad)


def test_the_run_wide_gate_holds_the_serving_checks_beside_suites() -> None:
    config = validate_config(suites_config(gate={"serving": {"max_engine_error_rate": 0.0}}))
    assert config.gate.serving is not None and config.gate.serving.max_engine_error_rate == 0.0


def test_suites_that_use_the_judge_share_one(tmp_path: Path) -> None:
    judge = {"engine": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "judge"}}
    config = suites_config()
    for suite in config["suites"]:
        suite["scoring"] = {"scorers": {"open": "judge"}, "judge": judge}
    assert validate_config(config).judge_scoring is not None
    config["suites"][1]["scoring"]["open_pass_threshold"] = 0.9
    with pytest.raises(ConfigError, match="suites shop, guard-ocr use the judge with different scoring.judge blocks"):
        validate_config(config)


def test_set_reaches_a_suite_by_its_name(tmp_path: Path) -> None:
    config = load_config(None, ["suites.guard-ocr.gate.min_score=70"], base=suites_config())
    assert config.suites[1].gate.min_score == 70


def test_set_naming_no_suite_says_which_there_are(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("engine: {kind: scripted}\nsuites:\n  - {name: shop, dataset: {path: m.jsonl}}\n")
    assert main(["run", "-c", str(path), "--set", "suites.guard.gate.min_score=70"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "--set 'suites.guard.gate.min_score=70': no item named 'guard' (there are: shop)")


def two_suites(media_dir: Path, invalid_rows: str) -> dict:
    shop = write_jsonl(media_dir / "shop.jsonl", [mcq_row("s1"), mcq_row("s2")])
    guard = write_jsonl(media_dir / "guard.jsonl", [mcq_row("s1"), mcq_row("s2", weight="2")])
    return {"engine": ENGINE, "suites": [
        {"name": "shop", "dataset": {"path": str(shop)}},
        {"name": "guard", "dataset": {"path": str(guard), "invalid_rows": invalid_rows}}]}


def test_a_bad_row_in_a_suite_is_refused_naming_the_suite_file_row_and_field(media_dir: Path) -> None:
    with pytest.raises(DatasetError) as info:
        scan_suites(validate_config(two_suites(media_dir, "refuse")))
    first, listed = str(info.value).splitlines()[:2]
    assert first.startswith(f"suite guard: {media_dir / 'guard.jsonl'}: 1 of 2 rows are invalid")
    assert listed.strip().startswith("guard.jsonl line 2 (id 's2'): weight:")


def test_a_bad_row_in_a_suite_becomes_its_suites_error_row(media_dir: Path) -> None:
    scans = scan_suites(validate_config(two_suites(media_dir, "error_row")))
    source = ShopBenchDatasource(scans, {}, {"shop": 8, "guard": 8})
    rows = [row for task in source.get_read_tasks(parallelism=1) for block in task.read_fn()
            for row in block.select(["suite", "sample_id", "status", "error"]).to_pylist()]
    assert [(row["suite"], row["sample_id"], row["status"]) for row in rows] == [
        ("shop", "s1", "ok"), ("shop", "s2", "ok"), ("guard", "s1", "ok"), ("guard", "s2", "error")]
    assert rows[-1]["error"].startswith("weight:")
