"""A tiny Qwen-VL model built on this machine: random weights, a locally trained tokenizer, no download.

`build_tiny_model(arch, out_dir, seed)` writes a complete Hugging Face model folder (config, safetensors weights,
tokenizer, image/video processor configs, chat template) that vLLM and transformers load offline. It stands in for
Ostrakon-VL-8B (a Qwen3-VL fine-tune) in tests that need a real engine: same architecture family, same special tokens
and chat template, a few MB instead of 16 GB.

Why it looks the way it does:
  * Byte-identical output for the same (arch, seed): the tokenizer's corpus is generated here (not read from OS
    files, which differ between machines), weights come from a seeded generator, and nothing written carries a
    path or a timestamp. Another seed gives other weights (the tokenizer stays the same).
  * Weights are drawn with std 0.3: with the usual 0.02 the greedy answer is the same whatever the image or
    question, and a test could not tell a dropped image from a used one.
  * The model's vocabulary is exactly the tokenizer's size: padded ids would decode to ''.
  * Images become 4 to 16 visual tokens, so the vision tower and vLLM's profiling stay cheap on a CPU.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from transformers import BaseVideoProcessor

TinyArch = Literal["qwen2_vl", "qwen3_vl"]
TINY_MODEL_ARCHS: tuple[TinyArch, ...] = ("qwen2_vl", "qwen3_vl")

INIT_STD = 0.3
BPE_VOCAB_SIZE = 1024  # byte alphabet (256) + merges; the special tokens come after
TOKENIZER_CORPUS_SEED = 20240917  # fixed: the tokenizer is the same for every model seed
TEXT_HIDDEN, TEXT_LAYERS, TEXT_HEADS, TEXT_KV_HEADS = 128, 2, 4, 2
VISION_WIDTH, VISION_DEPTH, VISION_HEADS = 64, 2, 2
MIN_IMAGE_TOKENS, MAX_IMAGE_TOKENS = 4, 16  # per image, after the 2x2 spatial merge
MAX_VIDEO_TOKENS_PER_FRAME_PAIR = 16  # frames go in pairs (temporal patch 2)

# Qwen's special tokens in Qwen's order (ids follow the BPE vocabulary here instead of starting at 151643).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
# Added but not special in Qwen's tokenizers: they survive skip_special_tokens, as with the real model.
QWEN_PLAIN_ADDED_TOKENS = {"qwen2_vl": ("<tool_call>", "</tool_call>"),
                           "qwen3_vl": ("<tool_call>", "</tool_call>", "<think>", "</think>")}

# Qwen2-VL-Instruct's template: a default system prompt, one placeholder per image or video.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen3-VL-Instruct's template without the tool-calling branches: no default system prompt, content trimmed.
QWEN3_VL_CHAT_TEMPLATE = """{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- macro render_content(content, do_vision_count) %}
    {%- if content is string %}
        {{- content }}
    {%- else %}
        {%- for item in content %}
            {%- if 'image' in item or 'image_url' in item or item.type == 'image' %}
                {%- if do_vision_count %}{%- set image_count.value = image_count.value + 1 %}{%- endif %}
                {%- if add_vision_id %}{{- 'Picture ' ~ image_count.value ~ ': ' }}{%- endif %}
                {{- '<|vision_start|><|image_pad|><|vision_end|>' }}
            {%- elif 'video' in item or item.type == 'video' %}
                {%- if do_vision_count %}{%- set video_count.value = video_count.value + 1 %}{%- endif %}
                {%- if add_vision_id %}{{- 'Video ' ~ video_count.value ~ ': ' }}{%- endif %}
                {{- '<|vision_start|><|video_pad|><|vision_end|>' }}
            {%- elif 'text' in item %}
                {{- item.text }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
{%- for message in messages %}
    {%- set content = render_content(message.content, true)|trim %}
    {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}"""

# Words the tokenizer should know as whole pieces: ShopBench's domain in English and Chinese.
ENGLISH_WORDS = (
    "shop store supermarket bakery grocery kitchen restaurant cafe counter shelf aisle cashier receipt price "
    "discount sale offer total change yuan dollar cents label brand sign name open closed hours customer staff "
    "queue basket cart milk bread coffee tea fruit apple banana orange vegetables rice noodles meat fish egg "
    "fridge freezer oven stove sink knife cutting board apron gloves hat hygiene clean dirty expired fresh date "
    "safety fire exit door window floor wall light menu promotion packet bottle box bag weight kg gram litre "
    "question answer option options choose correct which what where how many is are the a an of in on at to "
    "and or not yes no left right top bottom front back image picture video frame first second third last"
).split()
CHINESE_WORDS = (
    "商店 超市 便利店 面包店 杂货店 厨房 餐厅 咖啡馆 柜台 货架 通道 收银台 收银员 收据 价格 折扣 促销 优惠 总计 找零 "
    "元 角 分 标签 品牌 招牌 店名 营业 营业时间 关门 顾客 员工 排队 购物篮 购物车 牛奶 面包 咖啡 茶 水果 苹果 香蕉 "
    "橙子 蔬菜 米饭 面条 肉 鱼 鸡蛋 冰箱 冷冻柜 烤箱 炉灶 水槽 刀 砧板 围裙 手套 帽子 卫生 干净 脏 过期 新鲜 日期 "
    "安全 消防 出口 门 窗户 地面 墙 灯 菜单 包装 瓶子 盒子 袋子 重量 千克 克 升 问题 答案 选项 选择 正确 哪个 什么 "
    "哪里 多少 是 否 的 了 在 有 和 或 不 左边 右边 上面 下面 前面 后面 图片 视频 第一 第二 第三 最后 请 回答 这 那"
).split()
NAMES = ("Lucky Mart", "Sun Bakery", "Green Grocer", "Blue Cafe", "Fresh Corner", "华联超市", "好又多", "全家便利店")


def _tokenizer_corpus() -> list[str]:
    """Deterministic training text: shop vocabulary, prices, multiple-choice prompts, JSON, all printable ASCII."""
    rng = random.Random(TOKENIZER_CORPUS_SEED)
    ascii_printable = "".join(chr(code) for code in range(32, 127))
    lines = [ascii_printable, ascii_printable[::-1], " ".join(ENGLISH_WORDS), "".join(CHINESE_WORDS)]
    for _ in range(1500):
        english = " ".join(rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(3, 12)))
        chinese = "".join(rng.choice(CHINESE_WORDS) for _ in range(rng.randint(2, 8)))
        price = f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
        options = rng.sample(NAMES, 4)
        letter = rng.choice("ABCD")
        lines += [
            english.capitalize() + rng.choice(".?!,;:"),
            chinese + rng.choice("。？！，：、"),
            f"Price: ${price} / ¥{price} / {price}元, {rng.randint(1, 100)}% off",
            "Question: " + english + "?\n" + "\n".join(f"{'ABCD'[i]}. {name}" for i, name in enumerate(options))
            + f"\nAnswer: {letter}",
            json.dumps({"answer": letter, "shop_name": options[0], "price": float(price), "items": [
                rng.choice(ENGLISH_WORDS), rng.choice(CHINESE_WORDS)], "ok": rng.random() < 0.5},
                ensure_ascii=rng.random() < 0.3),
        ]
    return lines


def _build_tokenizer(arch: TinyArch):
    """Byte-level BPE trained here, wrapped as Qwen2Tokenizer with Qwen's special tokens after its vocabulary."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    # Train with the very normalizer and pre-tokenizer Qwen2Tokenizer uses, so its merges apply as learned.
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB_SIZE, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(_tokenizer_corpus(), trainer)
    trained = json.loads(bpe.to_str())["model"]
    vocab = dict(trained["vocab"])
    merges = [tuple(pair) for pair in trained["merges"]]
    # Fixed ids for every added token: they go in the vocabulary, the tokenizer then marks them as added.
    plain_added = QWEN_PLAIN_ADDED_TOKENS[arch]
    for token in QWEN_SPECIAL_TOKENS + plain_added:
        vocab[token] = len(vocab)
    # transformers annotates merges as strings and unk_token as str, but takes the (left, right) pairs tokenizers'
    # BPE trains and None for no unknown token (byte-level BPE needs none).
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=merges, unk_token=None,  # type: ignore[arg-type]
        eos_token="<|im_end|>", pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in QWEN_SPECIAL_TOKENS if t not in ("<|endoftext|>", "<|im_end|>")],
        model_max_length=32768,
    )
    tokenizer.add_tokens([AddedToken(token, special=False, normalized=False) for token in plain_added])
    if len(tokenizer) != len(vocab):
        raise RuntimeError(f"tokenizer has {len(tokenizer)} tokens, expected {len(vocab)}")
    return tokenizer


def _token_ids(tokenizer) -> dict[str, int]:
    """The ids the config must name: vLLM finds images and videos in the prompt by these."""
    return {name: tokenizer.convert_tokens_to_ids(f"<|{name}|>")
            for name in ("endoftext", "im_end", "vision_start", "vision_end", "image_pad", "video_pad")}


class _VisionTokenIds(TypedDict):
    """The vision marker tokens' ids, under the names both Qwen-VL configs give them."""

    image_token_id: int
    video_token_id: int
    vision_start_token_id: int
    vision_end_token_id: int


def _build_config(arch: TinyArch, vocab_size: int, ids: dict[str, int]):
    """A shrunken config of the real architecture: 2 text layers of width 128, a 2-block vision tower of width 64."""
    head_dim = TEXT_HIDDEN // TEXT_HEADS
    text: dict[str, Any] = dict(
        vocab_size=vocab_size, hidden_size=TEXT_HIDDEN, intermediate_size=2 * TEXT_HIDDEN,
        num_hidden_layers=TEXT_LAYERS, num_attention_heads=TEXT_HEADS, num_key_value_heads=TEXT_KV_HEADS,
        max_position_embeddings=32768, initializer_range=INIT_STD, tie_word_embeddings=False,
        bos_token_id=ids["endoftext"], eos_token_id=ids["im_end"], pad_token_id=ids["endoftext"],
    )
    token_ids = _VisionTokenIds(image_token_id=ids["image_pad"], video_token_id=ids["video_pad"],
                                vision_start_token_id=ids["vision_start"], vision_end_token_id=ids["vision_end"])
    if arch == "qwen2_vl":
        from transformers import Qwen2VLConfig

        # mrope_section splits head_dim/2 rotary frequencies over (time, height, width), as [16, 24, 24] does for 128.
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]}
        vision: dict[str, Any] = dict(
            depth=VISION_DEPTH, embed_dim=VISION_WIDTH, hidden_size=TEXT_HIDDEN, num_heads=VISION_HEADS, mlp_ratio=2,
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, initializer_range=INIT_STD,
        )
        return Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **token_ids)
    if arch == "qwen3_vl":
        from transformers import Qwen3VLConfig

        # Interleaved mrope over head_dim/2 = 16 frequencies, as [24, 20, 20] does for 128.
        text["head_dim"] = head_dim
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [6, 5, 5],
                                   "mrope_interleaved": True}
        vision = dict(depth=VISION_DEPTH, hidden_size=VISION_WIDTH, intermediate_size=2 * VISION_WIDTH,
                      num_heads=VISION_HEADS, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                      out_hidden_size=TEXT_HIDDEN, num_position_embeddings=256, deepstack_visual_indexes=[1],
                      initializer_range=INIT_STD)
        return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **token_ids)
    raise ValueError(f"unknown tiny model arch {arch!r}; expected one of {TINY_MODEL_ARCHS}")


def _build_processor(arch: TinyArch, tokenizer, max_image_tokens: int = MAX_IMAGE_TOKENS):
    """Image and video processors with small pixel budgets, so an image is 4 to `max_image_tokens` visual tokens."""
    from transformers import Qwen2VLImageProcessor

    if arch == "qwen2_vl":
        from transformers import Qwen2VLProcessor, Qwen2VLVideoProcessor

        token_pixels = 28 * 28  # patch 14, merged 2x2
        images = Qwen2VLImageProcessor(min_pixels=MIN_IMAGE_TOKENS * token_pixels,
                                       max_pixels=max_image_tokens * token_pixels)
        # Qwen2-VL's video budget is per frame.
        videos: BaseVideoProcessor = Qwen2VLVideoProcessor(
            min_pixels=MIN_IMAGE_TOKENS * token_pixels, max_pixels=MAX_VIDEO_TOKENS_PER_FRAME_PAIR * token_pixels,
            cap_pixels_per_frame=False,
        )
        return Qwen2VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=videos,
                                chat_template=QWEN2_VL_CHAT_TEMPLATE)
    from transformers import Qwen3VLProcessor, Qwen3VLVideoProcessor

    token_pixels = 32 * 32  # patch 16, merged 2x2
    images = Qwen2VLImageProcessor(patch_size=16, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
                                   min_pixels=MIN_IMAGE_TOKENS * token_pixels,
                                   max_pixels=max_image_tokens * token_pixels)
    # Qwen3-VL's video budget is over frames x height x width.
    videos = Qwen3VLVideoProcessor(size={"shortest_edge": 2 * MIN_IMAGE_TOKENS * token_pixels,
                                         "longest_edge": 8 * MAX_VIDEO_TOKENS_PER_FRAME_PAIR * token_pixels},
                                   image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    return Qwen3VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=videos,
                            chat_template=QWEN3_VL_CHAT_TEMPLATE)


def _build_model(arch: TinyArch, config, seed: int, init_std: float = INIT_STD):
    import torch
    from transformers import GenerationConfig, Qwen2VLForConditionalGeneration, Qwen3VLForConditionalGeneration

    model_class = Qwen2VLForConditionalGeneration if arch == "qwen2_vl" else Qwen3VLForConditionalGeneration
    torch.manual_seed(seed)
    # transformers wraps PreTrainedModel.to with functools.wraps(torch.nn.Module.to), which hides the bound self.
    model = model_class(config).to(torch.float32).eval()  # type: ignore[arg-type]
    # Draw every weight ourselves, in name order from one seeded generator: the result then does not depend on
    # how transformers initialises (meta devices, init order), and matrices get `init_std`.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if parameter.dim() >= 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * init_std)
            elif name.endswith("bias"):
                parameter.zero_()
            else:  # norm scales
                parameter.fill_(1.0)
    text = config.get_text_config()
    model.generation_config = GenerationConfig(
        bos_token_id=text.bos_token_id, pad_token_id=text.pad_token_id,
        eos_token_id=[text.eos_token_id, text.bos_token_id],  # <|im_end|> and <|endoftext|>, as Qwen's
    )
    return model


def build_tiny_model(arch: TinyArch, out_dir: Path, seed: int = 0) -> Path:
    """Write a complete, servable tiny `arch` model to `out_dir` (created; existing files overwritten)."""
    parts = tiny_model_parts(arch, seed)
    return save_model(parts.model, parts.processor, out_dir)


@dataclass(frozen=True)
class TinyModelParts:
    """A tiny model before it is written: the weights and the processor (tokenizer, image/video processors)."""

    model: Any  # Qwen2VLForConditionalGeneration or Qwen3VLForConditionalGeneration
    processor: Any


def tiny_model_parts(arch: TinyArch, seed: int, init_std: float = INIT_STD,
                     max_image_tokens: int = MAX_IMAGE_TOKENS) -> TinyModelParts:
    """The tiny model in memory: what build_tiny_model writes, or (other std, larger images) what training starts
    from."""
    if arch not in TINY_MODEL_ARCHS:
        raise ValueError(f"unknown tiny model arch {arch!r}; expected one of {TINY_MODEL_ARCHS}")
    tokenizer = _build_tokenizer(arch)
    config = _build_config(arch, len(tokenizer), _token_ids(tokenizer))
    return TinyModelParts(_build_model(arch, config, seed, init_std),
                          _build_processor(arch, tokenizer, max_image_tokens))


def save_model(model, processor, out_dir: Path) -> Path:
    """Write a complete model folder vLLM and transformers load offline (created; existing files overwritten)."""
    from transformers.utils import logging as transformers_logging

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    transformers_logging.disable_progress_bar()  # "Writing model shards: 100%" of one small file is noise
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
