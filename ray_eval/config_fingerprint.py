"""A run's config fingerprint, declared on the fields: every field counts unless its declaration marks it out.

A run directory is resumed only under the fingerprint it started with, so a field counts by default: a new field that
decides the answers must never be left out by forgetting a name list. A field that does not decide them (where
results go, how fast or how patiently the engine is asked) says so where it is declared, with the reason:

    out_dir: Annotated[Path, NotFingerprinted("where results are written, not what they are")] = ...
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class NotFingerprinted:
    """Field marker: the field, and all inside it, is not part of the fingerprint; a resumed run may change it."""

    why: str


@dataclass(frozen=True)
class CountsWhenSet:
    """Field marker for a field added after run directories were made: at its default it is left out, so their
    fingerprints stay what they were (they still resume); set to anything else, it counts like any field. `since`
    names the change that added it."""

    since: str


@dataclass(frozen=True)
class FingerprintedWhole:
    """Field marker: every field inside this block counts, NotFingerprinted markers inside it included."""

    why: str


class Fingerprinting(Enum):
    """Which fields of a block count."""

    MARKED = "every field not marked NotFingerprinted"
    WHOLE = "every field"
    OUT = "no field"


def fingerprinting_of(field: FieldInfo, around: Fingerprinting = Fingerprinting.MARKED) -> Fingerprinting:
    """How a field counts, inside a block that counts as `around`."""
    if around is not Fingerprinting.MARKED:
        return around
    if any(isinstance(marker, NotFingerprinted) for marker in field.metadata):
        return Fingerprinting.OUT
    if any(isinstance(marker, FingerprintedWhole) for marker in field.metadata):
        return Fingerprinting.WHOLE
    return Fingerprinting.MARKED


def fingerprint(tree: BaseModel) -> str:
    """Hash of the fields that count (the tree's JSON, sorted keys, without the fields marked out)."""
    data = tree.model_dump(mode="json", exclude=_left_out(tree))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _left_out(block: BaseModel) -> dict[str, Any]:
    """The fields marked out, as model_dump's `exclude`: {field: True} or {field: what is left out inside it}."""
    excluded: dict[str, Any] = {}
    for name, field in type(block).model_fields.items():
        counts = fingerprinting_of(field)
        if counts is Fingerprinting.OUT or (_counts_when_set(field) and _at_default(block, name, field)):
            excluded[name] = True
        elif counts is Fingerprinting.MARKED and (inside := _left_out_of_value(getattr(block, name))):
            excluded[name] = inside
    return excluded


def _counts_when_set(field: FieldInfo) -> bool:
    return any(isinstance(marker, CountsWhenSet) for marker in field.metadata)


def _at_default(block: BaseModel, name: str, field: FieldInfo) -> bool:
    return bool(getattr(block, name) == field.get_default(call_default_factory=True, validated_data={}))


def _left_out_of_value(value: Any) -> dict[Any, Any]:
    if isinstance(value, BaseModel):
        return _left_out(value)
    if isinstance(value, dict):  # e.g. gate.subsets: the blocks under each key
        return {key: inside for key, item in value.items() if (inside := _left_out_of_value(item))}
    if isinstance(value, (list, tuple)):
        return {index: inside for index, item in enumerate(value) if (inside := _left_out_of_value(item))}
    return {}
