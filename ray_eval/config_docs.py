"""The configuration reference (docs/reference/config.md), generated from the config tree so it cannot drift from
the code.

`python -m ray_eval.config_docs` prints it; `--write [PAGE]` replaces it between its markers in PAGE (default
docs/reference/config.md, from the checkout's root); a test checks the page holds exactly this text.
"""

from __future__ import annotations

import json
import sys
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ray_eval.config import EvalConfig
from ray_eval.config_fingerprint import Fingerprinting, fingerprinting_of
from ray_eval.config_loading import models_in

BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"
PAGE = Path("docs/reference/config.md")  # relative to the checkout's root
NOT_FINGERPRINTED = " *Not in the run's fingerprint: a resumed run may change it.*"


def _type_name(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("pathlib.", "").replace("<class '", "").replace("'>", "")
    for prefix in ("ray_eval.config.", "ray_eval.data.taxonomy."):
        text = text.replace(prefix, "")
    return "`" + text.replace("NoneType", "None").replace("|", "\\|") + "`"


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return ""
    try:
        return f"`{json.dumps(value, default=lambda v: getattr(v, 'value', str(v)), ensure_ascii=False)}`"
    except TypeError:
        return f"`{value}`"


def _placeholder(key_type: Any) -> str:
    if isinstance(key_type, type) and issubclass(key_type, Enum):
        return "|".join(member.value for member in key_type).replace("|", "\\|")
    args = typing.get_args(key_type)
    return "\\|".join(str(arg) for arg in args) if args else "name"


def _rows(model: type[BaseModel], prefix: str, counts: Fingerprinting | None) -> list[str]:
    """The rows of a model's fields; `counts`: how the model's fields count in the fingerprint (None: the tree has
    no fingerprint, say nothing of it)."""
    rows: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        inner = fingerprinting_of(field, counts) if counts is not None else None
        if typing.get_origin(field.annotation) is dict:  # a mapping of thresholds: name the key, then its fields
            key_type, value_type = typing.get_args(field.annotation)
            if typing.get_origin(value_type) is dict:  # labels: level -> category -> thresholds
                inner_key, inner_value = typing.get_args(value_type)
                rows.append(f"| `{key}` | mapping | `{{}}` | {field.description or ''} |")
                rows.extend(_rows(models_in(inner_value)[0], f"{key}.<{_placeholder(key_type)}>.<category>.", inner))
                continue
            if models_in(value_type):
                placeholder = "<" + _placeholder(key_type) + ">"
                rows.append(f"| `{key}` | mapping | `{{}}` | {field.description or ''} |")
                rows.extend(_rows(models_in(value_type)[0], f"{key}.{placeholder}.", inner))
                continue
        nested = models_in(field.annotation)
        if nested and len(nested) == 1:
            rows.extend(_rows(nested[0], key + ".", inner))
            continue
        if len(nested) > 1:  # a union of kinds (engine): one block per kind
            for member in nested:
                kind = member.model_fields["kind"].default
                rows.append(f"| `{key}` (kind `{kind}`) | | | {(member.__doc__ or '').strip().splitlines()[0]} |")
                rows.extend(_rows(member, f"{key}.", inner))
            continue
        description = (field.description or "").replace("|", "\\|")
        if inner is Fingerprinting.OUT:
            description += NOT_FINGERPRINTED
        rows.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {description} |")
    return rows


def reference_table(model: type, begin: str = BEGIN, end: str = END, *, fingerprinted: bool = False) -> str:
    """The Markdown reference of a config model's fields, between its markers; `fingerprinted`: the tree has a
    fingerprint (a run's), so the fields left out of it say so."""
    counts = Fingerprinting.MARKED if fingerprinted else None
    lines = ["| key | type | default | meaning |", "|---|---|---|---|", *_rows(model, "", counts)]
    return "\n".join([begin, *lines, end])


def config_reference() -> str:
    return reference_table(EvalConfig, fingerprinted=True)


def replace_between(path: Path, table: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace what stands between the markers of a Markdown file with `table`."""
    text = path.read_text(encoding="utf-8")
    start, stop = text.index(begin), text.index(end) + len(end)
    path.write_text(text[:start] + table + text[stop:], encoding="utf-8")


def write_into(path: Path) -> None:
    """Replace the run's reference between the markers of a Markdown file."""
    replace_between(path, config_reference())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(Path(sys.argv[2]) if len(sys.argv) > 2 else PAGE)
    else:
        print(config_reference())
