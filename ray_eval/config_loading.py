"""Loading a config tree, whatever its root model (a run's EvalConfig, a canary's CanaryConfig): the YAML file,
`--set dotted.key=value` overrides, validation, and the one-line description of each bad field, naming the file or
the override, the field, and the key most likely meant.

Every block of a tree is a StrictModel: unknown keys are errors, and a loaded tree cannot change.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from ray_eval.errors import ConfigError


class StrictModel(BaseModel):
    """A block of a config tree: unknown keys are refused, defaults validated, values frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def unknown_key_note(cls, key: str) -> str:
        """Said after "unknown field" when this model is a tree's root, `key` is unknown at its top and no known key
        is close to it (e.g. a key of another config tree); empty: nothing to add."""
        return ""


Tree = typing.TypeVar("Tree", bound=BaseModel)


def load(path: Path | None, root: type[Tree], overrides: typing.Sequence[str] = (),
         base: dict[str, Any] | None = None) -> Tree:
    """Read a YAML file (over `base`, or from nothing), apply `dotted.key=value` overrides, validate as `root`."""
    data: dict[str, Any] = dict(base or {})
    if path is not None:
        data.update(read_config_file(path))
    for override in overrides:
        apply_override(data, override)
    return validate(root, data, str(path) if path else "config", overrides)


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML mapping of a config file, not yet validated."""
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top, not {type(loaded).__name__}")
    return loaded


def apply_override(data: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in nested dicts; the value is parsed as YAML (numbers, booleans, lists, null)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected dotted.key=value")
    parts = key.strip().split(".")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML: {exc}") from None
    node = data
    depth = 0
    while depth < len(parts) - 1:
        part = parts[depth]
        # An absent or null section (a stored config holds `baseline: null`) becomes a mapping to set the key in.
        if node.get(part) is None:
            node[part] = {}
        child = node[part]
        if isinstance(child, list) and depth + 2 < len(parts):  # a list of named blocks: suites.NAME.key=value
            depth += 1
            child = _named_item(child, parts[depth], override)
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: {'.'.join(parts[: depth + 1])} is not a mapping")
        node = child
        depth += 1
    node[parts[-1]] = value


def _named_item(items: list[Any], name: str, override: str) -> Any:
    """The item of a list of named blocks (the config's suites) that `--set suites.NAME.key=value` names."""
    for item in items:
        if isinstance(item, dict) and item.get("name") == name:
            return item
    names = ", ".join(str(item.get("name")) for item in items if isinstance(item, dict))
    raise ConfigError(f"--set {override!r}: no item named {name!r} (there are: {names})")


def validate(root: type[Tree], data: dict[str, Any], source: str, overrides: typing.Sequence[str] = ()) -> Tree:
    """Validate a config tree. ConfigError lists every bad field; a field that a `--set` override gave is blamed on
    that override, not on the file `source`."""
    try:
        return root.model_validate(data)
    except ValidationError as exc:
        lines = [_blamed(error, root, overrides) for error in exc.errors()]
    if all(line.startswith("--set ") for line in lines):
        if len(lines) == 1:
            raise ConfigError(lines[0])
        raise ConfigError("invalid --set overrides:\n  " + "\n  ".join(lines))
    raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(lines))


def _blamed(error: Mapping[str, Any], root: type[BaseModel], overrides: typing.Sequence[str]) -> str:
    """The error's line, prefixed with the last `--set` whose key is the field, inside it or above it."""
    loc = _field_path(error, root)
    text = describe_error(error, root)
    for override in reversed(overrides if loc else ()):  # an error of the whole tree is no one override's
        key = override.partition("=")[0].strip().split(".")
        if key[: len(loc)] == loc[: len(key)]:
            return f"--set {override}: {text}"
    return text


def describe_error(error: Mapping[str, Any], root: type[BaseModel]) -> str:
    """One line naming the field of a pydantic error; `root` is the model the error's path starts in."""
    loc = _field_path(error, root)
    where = ".".join(loc) or "(top)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown field{_suggestion(loc, root)}"
    given = error.get("input")
    shown = "" if error["type"] == "missing" or isinstance(given, dict) else f" (got {given!r})"
    return f"{where}: {error['msg']}{shown}"


def _field_path(error: Mapping[str, Any], root: type[BaseModel]) -> list[str]:
    """The error's path as a user writes the key: without the member tag pydantic adds after a discriminated union
    (engine.openai.base_url is engine.base_url) and without its marker of a bad mapping key."""
    path: list[str] = []
    models: list[type[BaseModel]] = [root]
    tags: set[str] = set()
    for part in map(str, error["loc"]):
        if part in tags:
            tags = set()
            continue
        path.append(part)
        fields = [model.model_fields[part] for model in models if part in model.model_fields]
        if fields:  # else a mapping's key or a list's index: the models inside stay the same
            models = [model for field in fields for model in models_in(field.annotation)]
            tags = {tag for field in fields for tag in _union_tags(field)}
    if path and path[-1] == "[key]":  # a bad dict key: name the key, not pydantic's marker
        path.pop()
    return path


def _union_tags(field: FieldInfo) -> set[str]:
    """The tags of a discriminated union field's members (engine: openai, serve_handle, scripted)."""
    if not isinstance(field.discriminator, str):
        return set()
    return {str(tag) for model in models_in(field.annotation)
            for tag in typing.get_args(model.model_fields[field.discriminator].annotation)}


def _suggestion(loc: list[str], root: type[BaseModel]) -> str:
    """The closest known field name of the model the unknown key was found in."""
    models: list[Any] = [root]
    for part in loc[:-1]:
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        models = [m for f in fields for m in models_in(f.annotation)]
        if not models:
            return ""
    known = {name for model in models for name in model.model_fields}
    if len(loc) > 1 and loc[-1] in known:  # e.g. base_url given to engine.kind scripted
        return f" for this {loc[-2]} kind"
    close = difflib.get_close_matches(loc[-1], sorted(known), n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if len(loc) == 1 and issubclass(root, StrictModel):
        return root.unknown_key_note(loc[0])
    return ""


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config models an annotation refers to (through unions, Annotated and containers)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]
