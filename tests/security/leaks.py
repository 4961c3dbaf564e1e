"""Finding a key in what a run leaves behind: whole, in part, URL-encoded or base64-encoded.

The contract (docs/concepts/nothing-lost.md, "Secrets"): no FRAGMENT characters in a row of a key are written
anywhere, in any of these forms. The keys the tests make are random letters and digits around a `/` and a `+` (so
that URL encoding changes them), long enough that any FRAGMENT characters of one are found nowhere else by chance.
"""

from __future__ import annotations

import base64
import logging
import secrets
import string
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus

import pyarrow as pa
import pyarrow.parquet as pq

FRAGMENT = 8  # the documented minimum: a run of 8 characters of a key counts as the key
# Loggers whose records the run may produce, captured at DEBUG. (The CLI re-configures the root logger with
# `force=True`, which drops pytest's caplog handler; a handler on these named loggers survives it.)
LOGGERS = ("ray_eval", "httpx", "httpcore", "ray", "urllib3", "asyncio", "prometheus_client")


def new_key(prefix: str = "sk-RELTEST") -> str:
    alphabet = string.ascii_letters + string.digits

    def chunk(length: int) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(length))

    return f"{prefix}-{chunk(10)}/{chunk(14)}+{chunk(10)}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def html_error_page(secret: str, at: int = 190) -> str:
    """A proxy's HTML 500 page quoting the request's credentials, the key starting at character `at` of the page."""
    head = "<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>"
    quote_line = "upstream request failed; the request's headers were Authorization: Bearer "
    filler = "x" * (at - len(head) - len(quote_line))
    page = f"{head}{filler}{quote_line}{secret}</p><hr><address>nginx</address></body></html>"
    assert page.index(secret) == at
    return page


def key_forms(secret: str, users: Iterable[str] = ()) -> dict[str, str]:
    """What finds `secret` in a text: each form by name; a basic-auth header for each user name."""
    forms = {"the whole key": secret, "the key URL-encoded": quote(secret, safe=""),
             "the key form-encoded": quote_plus(secret), "the key in base64": b64(secret)}
    forms |= {f"basic auth of {user}": b64(f"{user}:{secret}") for user in users}
    forms |= {f"characters {start}-{start + FRAGMENT} of the key": secret[start:start + FRAGMENT]
              for start in range(len(secret) - FRAGMENT + 1)}
    return forms


def leaks(text: str, secret: str, users: Iterable[str] = ()) -> list[str]:
    """The forms of `secret` found in `text` (empty when none is)."""
    return [name for name, form in key_forms(secret, users).items() if form in text]


def parquet_strings(path: Path) -> Iterator[str]:
    """Every string cell of a parquet file, lists and structs opened (its pages are compressed: raw bytes prove
    little)."""
    def strings(values: pa.Array) -> Iterator[str]:
        kind = values.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            yield from (value for value in values.to_pylist() if value is not None)
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            yield from strings(values.flatten())
        elif pa.types.is_struct(kind):
            for index in range(kind.num_fields):
                yield from strings(values.field(index))

    table = pq.read_table(path)
    for column in table.columns:
        for chunk in column.chunks:
            yield from strings(chunk)


def file_texts(root: Path) -> Iterator[tuple[str, str]]:
    """(name, text) of every file under `root`: its bytes as text, and for a parquet file its string cells too."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        yield name, path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix == ".parquet":
            yield f"{name} (cells)", "\n".join(parquet_strings(path))


def leaks_in_files(root: Path, secret: str, users: Iterable[str] = ()) -> dict[str, list[str]]:
    """Each file under `root` holding a form of `secret`, with the forms found."""
    found = {name: leaks(text, secret, users) for name, text in file_texts(root)}
    return {name: forms for name, forms in found.items() if forms}


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {record.levelname} {text}")


@contextmanager
def recorded_logs() -> Iterator[Recorder]:
    recorder = Recorder()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(recorder)
        logger.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(recorder)
            logger.setLevel(level)
