"""The `token_f1_cosine` scorer for open answers: CJK-aware token F1 and sentence-embedding cosine, averaged.

The embedding model is a local sentence-transformers-style folder (all-MiniLM-L6-v2, or the tiny stand-in that
`build_tiny_embedding_model` writes for tests), loaded with transformers from disk only; nothing is downloaded.
torch and transformers come with the cpu-engine extra and are imported only when a model is loaded, so this
module imports without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ray_eval.config import EMBEDDING_SCORER  # "token_f1_cosine", the name configs use
from ray_eval.errors import ConfigError
from ray_eval.scoring.lexical import overlap
from ray_eval.scoring.registry import ScoreResult, ScoringTarget
from ray_eval.scoring.text import strip_reasoning

MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length; longer texts are truncated
EMPTY_NOTE = "empty response (after removing any reasoning block)"


class SentenceEmbedder:
    """A BERT sentence encoder as all-MiniLM-L6-v2 defines it: token states mean-pooled over the attention mask,
    then L2-normalised. CPU, eval mode, no gradients: the same text gives the same vector on every call."""

    def __init__(self, model_dir: Path | str):
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise ConfigError(f"scoring.embedding_model: {self.model_dir} is not a folder")
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(f"the embedding model {self.model_dir} needs torch and transformers ({exc}); "
                              "install the cpu-engine extra (pip install -e '.[cpu-engine]')") from None
        self._torch = torch
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            self.model = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - whatever transformers raises, the folder is the problem
            raise ConfigError(f"scoring.embedding_model: cannot load {self.model_dir}: {exc}") from None
        self.model.to(device="cpu", dtype=torch.float32).eval()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors, all texts in one forward pass."""
        if not texts:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        torch = self._torch
        encoded = self.tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_LENGTH,
                                 return_tensors="pt")
        with torch.inference_mode():
            states = self.model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return vectors.numpy().astype(np.float32, copy=True)

    def cosine(self, a: str, b: str) -> float:
        """Cosine similarity of two texts, in [-1, 1]."""
        first, second = self.embed([a, b])
        return float(np.dot(first, second))


class TokenF1CosineScorer:
    """Open answers: score = (token F1 + max(cosine, 0)) / 2, against the reference answer.

    Token F1 (CJK-aware, `lexical.overlap`) rewards the reference's exact words, names and numbers, but gives
    nothing to a correct paraphrase; the embedding cosine rewards a paraphrase, but also a fluent answer that
    swaps one price or brand for another. Neither alone is a fair open-answer score, so each counts half.
    Negative cosines (clipped to 0) mean "unrelated", not "worse than unrelated". An answer that is empty after
    removing any reasoning block is unparsed (score 0). Nothing is cached across rows but the model itself.
    """

    def __init__(self, model_dir: Path | str):
        self.embedder = SentenceEmbedder(model_dir)
        self.model_name = self.embedder.model_dir.name

    def __call__(self, response: str, target: ScoringTarget) -> ScoreResult:
        return self.score_batch([response], [target])[0]

    def score_batch(self, responses: Sequence[str], targets: Sequence[ScoringTarget]) -> list[ScoreResult]:
        """Score pairs in order; every answer and distinct reference of the batch is embedded in one pass."""
        if len(responses) != len(targets):
            raise ValueError(f"{len(responses)} responses but {len(targets)} targets")
        answers = [strip_reasoning(response or "") for response in responses]
        texts = list(dict.fromkeys(
            [answer for answer in answers if answer] + [t.answer for a, t in zip(answers, targets, strict=True) if a]))
        vectors = dict(zip(texts, self.embedder.embed(texts), strict=True))
        results = []
        for answer, target in zip(answers, targets, strict=True):
            if not answer:
                results.append(ScoreResult(0.0, None, True, {"note": EMPTY_NOTE, "embedding_model": self.model_name}))
                continue
            f1 = overlap(answer, target.answer)[2]
            cosine = min(max(float(np.dot(vectors[answer], vectors[target.answer])), 0.0), 1.0)
            details = {"token_f1": f1, "cosine": cosine, "embedding_model": self.model_name}
            results.append(ScoreResult(min((f1 + cosine) / 2, 1.0), answer, False, details))
        return results


# ---- a tiny stand-in model for tests and demos -----------------------------------------------------------------------

_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_CORPUS = [
    "the store sells fresh milk, bread, eggs and bananas",
    "the price of the red apples is 12.5 yuan per kilogram",
    "two bottles of water and a bag of rice are in the basket",
    "the shop name on the sign is Sun Bakery",
    "the shelf on the left holds cereal, coffee and tea",
    "a discount of 20 percent applies to frozen food this week",
    "the customer pays at the checkout counter with a card",
    "the orange juice is next to the yogurt in the fridge",
    "店里卖新鲜的牛奶、面包、鸡蛋和香蕉",
    "红苹果的价格是每公斤12.5元",
    "购物篮里有两瓶水和一袋大米",
    "招牌上的店名是阳光面包房",
    "左边的货架上放着麦片、咖啡和茶叶",
    "本周冷冻食品打八折",
    "顾客在收银台用银行卡付款",
    "橙汁在冰箱里酸奶的旁边",
]


def build_tiny_embedding_model(out_dir: Path | str, seed: int = 0) -> Path:
    """Write a tiny BERT sentence encoder (hidden 32, 2 layers, 2 heads) and a WordPiece tokenizer whose vocabulary
    comes from a few English and Chinese retail phrases: their words whole, every character alone and as a `##`
    continuation (each CJK character is a token). Its weights are random: it is for tests and demos of the
    `token_f1_cosine` plumbing only, and its cosines say nothing about answer quality. The same seed writes the
    same files, byte for byte. Returns out_dir."""
    import torch
    from tokenizers import normalizers, pre_tokenizers
    from transformers import BertConfig, BertModel, BertTokenizer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The vocabulary is made here, not by tokenizers' WordPieceTrainer: that trainer breaks ties between equally
    # frequent merges in hash-map order, so two runs learn different vocabularies from a corpus this small.
    normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    words = {word for text in _CORPUS for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text))}
    chars = {char for word in words for char in word}
    pieces = sorted(words | chars | {f"##{char}" for word in words for char in word[1:]})
    vocab = {token: index for index, token in enumerate(_SPECIAL_TOKENS + pieces)}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=512)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):  # seed here without touching the caller's random state
        torch.manual_seed(seed)
        # transformers types to() as taking a model (its decorator's stub); it takes a dtype, as torch's does.
        model = BertModel(config).to(torch.float32).eval()  # type: ignore[arg-type]
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


__all__ = ["EMBEDDING_SCORER", "SentenceEmbedder", "TokenF1CosineScorer", "build_tiny_embedding_model"]
