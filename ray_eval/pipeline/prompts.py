"""Turn a sample into OpenAI-style chat messages: media parts first (as Qwen-VL is trained), then the text.

The text comes from the Jinja2 templates of `preprocess.prompts`; questions written in Chinese get the `_zh`
templates (a question is Chinese when it contains a CJK ideograph).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from ray_eval.config import PromptConfig
from ray_eval.data.taxonomy import option_letter

CJK_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_environment = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)


@lru_cache(maxsize=64)
def _template(source: str):
    return _environment.from_string(source)


def is_chinese(text: str) -> bool:
    return CJK_IDEOGRAPH.search(text) is not None


def render_prompt(prompts: PromptConfig, answer_format: str, question: str, options: list[str],
                  schema_json: str | None) -> str:
    """The text part of the user message for one question."""
    name = answer_format + ("_zh" if is_chinese(question) else "")
    template = _template(getattr(prompts, name))
    schema = json.dumps(json.loads(schema_json), ensure_ascii=False) if schema_json else ""
    pairs = [(option_letter(i), text) for i, text in enumerate(options)]
    return template.render(question=question, options=pairs, schema=schema).strip()


def build_messages(system: str | None, media_parts: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": [*media_parts, {"type": "text", "text": prompt}]})
    return messages


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def video_part(url: str) -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}}
