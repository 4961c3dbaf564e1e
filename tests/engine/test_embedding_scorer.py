"""The `token_f1_cosine` scorer on the tiny random-weight sentence encoder built here (no downloads).

Random weights make the cosines meaningless as quality judgements; these tests check the plumbing: identical
texts agree fully, reasoning is removed, scores repeat exactly, a batch scores like its rows one by one, and a
missing model folder or missing torch is a ConfigError.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.engine

pytest.importorskip("torch")
pytest.importorskip("transformers")

from ray_eval.errors import ConfigError  # noqa: E402
from ray_eval.scoring.embedding import (  # noqa: E402
    EMBEDDING_SCORER,
    SentenceEmbedder,
    TokenF1CosineScorer,
    build_tiny_embedding_model,
)
from ray_eval.scoring.registry import ScoringTarget  # noqa: E402

PAIRS = [
    ("fresh milk and bread", "the store sells fresh milk and bread"),
    ("the coffee is on the left shelf", "the shelf on the left holds cereal, coffee and tea"),
    ("Sun Bakery", "the shop name on the sign is Sun Bakery"),
    ("新鲜的牛奶和面包", "店里卖新鲜的牛奶、面包、鸡蛋和香蕉"),
    ("<think>the sign says...</think>阳光面包房", "招牌上的店名是阳光面包房"),
    ("a zebra with quantum stripes", "红苹果的价格是每公斤12.5元"),
]


def open_target(answer: str) -> ScoringTarget:
    return ScoringTarget("open", answer=answer)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_embedding_model(tmp_path_factory.mktemp("embedding") / "tiny-minilm", seed=0)


@pytest.fixture(scope="module")
def scorer(model_dir: Path) -> TokenF1CosineScorer:
    return TokenF1CosineScorer(model_dir)


def test_scorer_name() -> None:
    assert EMBEDDING_SCORER == "token_f1_cosine"


def test_embeddings_are_unit_vectors(model_dir: Path) -> None:
    embedder = SentenceEmbedder(model_dir)
    vectors = embedder.embed(["fresh milk", "牛奶", "a much longer sentence about the price of red apples"])
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 32)
    assert embedder.cosine("fresh milk", "fresh milk") == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("text", ["fresh milk and bread", "店里卖新鲜的牛奶、面包"])
def test_identical_answer_scores_one(scorer: TokenF1CosineScorer, text: str) -> None:
    result = scorer(text, open_target(text))
    assert not result.unparsed and result.extracted == text
    assert result.details["token_f1"] == 1.0
    assert result.details["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert result.score == pytest.approx(1.0, abs=1e-5)
    assert result.details["embedding_model"] == "tiny-minilm"


def test_different_answer_scores_lower(scorer: TokenF1CosineScorer) -> None:
    reference = "the store sells fresh milk and bread"
    same = scorer(reference, open_target(reference))
    other = scorer("a zebra with quantum stripes", open_target(reference))
    assert other.details["token_f1"] == 0.0
    assert 0.0 <= other.details["cosine"] < 1.0
    assert other.score == pytest.approx(other.details["cosine"] / 2)
    assert other.score < same.score


def test_chinese_answer(scorer: TokenF1CosineScorer) -> None:
    result = scorer("新鲜的牛奶和面包", open_target("店里卖新鲜的牛奶、面包、鸡蛋和香蕉"))
    assert not result.unparsed
    assert 0.0 < result.details["token_f1"] < 1.0  # shared characters count, although Chinese has no spaces
    assert 0.0 <= result.details["cosine"] < 1.0
    assert result.score == pytest.approx((result.details["token_f1"] + result.details["cosine"]) / 2)


def test_reasoning_is_not_scored(scorer: TokenF1CosineScorer) -> None:
    target = open_target("招牌上的店名是阳光面包房")
    with_reasoning = scorer("<think>the sign says fresh milk</think>阳光面包房", target)
    assert with_reasoning.extracted == "阳光面包房"
    assert with_reasoning == scorer("阳光面包房", target)


@pytest.mark.parametrize("response", ["", "   ", "<think>the sign says Sun Bakery</think>", "<think>cut off mid-"])
def test_empty_answer_is_unparsed(scorer: TokenF1CosineScorer, response: str) -> None:
    result = scorer(response, open_target("Sun Bakery"))
    assert result.unparsed and result.extracted is None and result.score == 0.0
    assert "empty response" in result.details["note"]


def test_two_scorers_give_identical_scores(scorer: TokenF1CosineScorer, model_dir: Path) -> None:
    again = TokenF1CosineScorer(model_dir)
    first = [scorer(response, open_target(reference)) for response, reference in PAIRS]
    second = [again(response, open_target(reference)) for response, reference in PAIRS]
    assert first == second
    assert len({result.score for result in first}) == len(PAIRS)  # the pairs are told apart


def test_batch_scores_like_one_by_one(scorer: TokenF1CosineScorer) -> None:
    responses = [response for response, _ in PAIRS] + ["", "<think>only reasoning</think>"]
    targets = [open_target(reference) for _, reference in PAIRS] + [open_target("milk"), open_target("bread")]
    batch = scorer.score_batch(responses, targets)
    single = [scorer(response, target) for response, target in zip(responses, targets, strict=True)]
    assert len(batch) == len(single) == len(responses)
    for together, alone in zip(batch, single, strict=True):
        # Padding to the batch's longest text changes float32 rounding only (one forward pass per batch).
        assert together.unparsed == alone.unparsed and together.extracted == alone.extracted
        assert together.score == pytest.approx(alone.score, abs=1e-5)
        assert together.details.get("token_f1") == alone.details.get("token_f1")
    assert [result.unparsed for result in batch] == [False] * len(PAIRS) + [True, True]
    assert scorer.score_batch([], []) == []
    with pytest.raises(ValueError, match="2 responses but 1 targets"):
        scorer.score_batch(["a", "b"], [open_target("a")])


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ConfigError, match="no-such-model"):
        TokenF1CosineScorer(missing)


def test_unloadable_folder_is_a_config_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(ConfigError, match="cannot load .*empty-model"):
        SentenceEmbedder(empty)


def test_missing_torch_is_a_config_error(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ConfigError, match="cpu-engine") as error:
        SentenceEmbedder(model_dir)
    assert str(model_dir) in str(error.value)


def test_same_seed_same_files(model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_embedding_model(tmp_path / "again", seed=0)
    names = sorted(path.name for path in model_dir.iterdir())
    assert "model.safetensors" in names and "tokenizer.json" in names
    assert names == sorted(path.name for path in again.iterdir())
    for name in names:
        assert (model_dir / name).read_bytes() == (again / name).read_bytes(), name
    other = build_tiny_embedding_model(tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (model_dir / "model.safetensors").read_bytes()
