"""Secrets out of every text ray-eval keeps: error messages, answers, judge replies, log lines, the canary's state.

The secrets of an endpoint are its API key (`engine.api_key_env` or `engine.api_key_file`) and the password of its
base URL's `user:password@` part (the user name alone when the URL has no password); an evaluation has the engine's
and the judge's, the canary its engine's. They are read once, where the engine spec is built, and every stage that
keeps text from an endpoint passes it through the spec's `Redactor` before the text leaves the actor. The HTTP client
is given a URL's credentials apart from the URL (`split_credentials`), so no log line of its own shows them.

What counts as a secret in a text, each replaced by `[redacted]`:
- the secret, URL-encoded (`%2F` or `%2f`, `+` for a space) and base64-encoded (standard or URL-safe, at each of the
  three byte alignments, so inside a longer encoded value too); for URL credentials the base64 of `user:password`,
  an HTTP basic-auth header;
- any run of MIN_FRAGMENT or more characters of one of those forms, wherever it is: a key a server cut short, a
  text cut by someone else ending in the key's first characters or starting with its last ones.

Why MIN_FRAGMENT is 8: eight characters of a random key are about 48 bits of it, which ordinary text does not hold by
chance, so words stay (a word of up to 7 letters a password shares is left alone; a password built of longer words
loses those words from the texts: safety first). A key's fixed prefix of 8 or more characters (OpenAI's `sk-proj-`)
is redacted where it appears, which costs nothing. A secret shorter than 8 characters is redacted only whole (and
URL-encoded), never in part.

Texts are redacted before they are cut to a length (`excerpt`), so a cut never leaves part of a key behind.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import overload
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

from pydantic import SecretStr

REDACTED = "[redacted]"
MIN_FRAGMENT = 8

_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")
_MARKED = re.compile(rb"\x01+")


class Redactor:
    """Removes the secrets it was given from texts: `redactor(text)`. Its repr names how many secrets it holds, never
    them; it pickles as the secrets alone (SecretStr), the forms it searches for are derived again where it lands."""

    def __init__(self, keys: Iterable[SecretStr] = (), credentials: Iterable[SecretStr] = ()):
        self._keys = tuple(keys)
        self._credentials = tuple(credentials)  # `user:password` pairs: an HTTP basic-auth header, found whole
        forms = {form for key in self._keys for form in _encodings(key.get_secret_value())}
        self._windows = frozenset(form[start:start + MIN_FRAGMENT] for form in forms if len(form) >= MIN_FRAGMENT
                                  for start in range(len(form) - MIN_FRAGMENT + 1))
        # A secret shorter than a fragment is found whole only (base64 of one is too short to tell from text); a
        # basic-auth header whole (its password's characters are found by the windows, but not a short password's).
        whole = {form for key in self._keys for form in _url_forms(key.get_secret_value()) if len(form) < MIN_FRAGMENT}
        whole |= {_basic_auth(pair.get_secret_value()) for pair in self._credentials}
        self._whole = tuple(sorted(form for form in whole if form))

    @classmethod
    def for_endpoint(cls, api_key: SecretStr | None, base_url: str | None) -> Redactor:
        """The secrets of one endpoint: its API key and its base URL's user:password part."""
        keys = [api_key] if api_key is not None and api_key.get_secret_value() else []
        credentials = []
        _, userinfo = split_credentials(base_url or "")
        if userinfo is not None:
            user, password = userinfo
            keys.append(SecretStr(password or user))
            credentials.append(SecretStr(f"{user}:{password}"))
        return cls(keys, credentials)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:
        return f"Redactor({len(self._keys)} secret(s))"

    def __reduce__(self) -> tuple:
        return Redactor, (self._keys, self._credentials)

    @overload
    def __call__(self, text: str) -> str: ...

    @overload
    def __call__(self, text: None) -> None: ...

    def __call__(self, text: str | None) -> str | None:
        """`text` with every secret, whole or in part (see the module's docstring), replaced by [redacted]."""
        if not text or not self._keys:
            return text
        secret = bytearray(len(text))  # 1 where a character belongs to a secret
        if len(text) >= MIN_FRAGMENT and self._windows:
            windows = self._windows
            for start in range(len(text) - MIN_FRAGMENT + 1):
                if text[start:start + MIN_FRAGMENT] in windows:
                    secret[start:start + MIN_FRAGMENT] = b"\1" * MIN_FRAGMENT
        for form in self._whole:
            start = text.find(form)
            while start != -1:
                secret[start:start + len(form)] = b"\1" * len(form)
                start = text.find(form, start + 1)
        pieces, kept_from = [], 0
        for run in _MARKED.finditer(secret):
            pieces += [text[kept_from:run.start()], REDACTED]
            kept_from = run.end()
        return "".join(pieces) + text[kept_from:] if pieces else text

    def excerpt(self, text: str, limit: int) -> str:
        """The redacted text cut to `limit` characters (a [redacted] the cut would split is kept whole)."""
        clean = self(text) or ""
        if len(clean) <= limit:
            return clean
        marker = clean.find(REDACTED, max(0, limit - len(REDACTED) + 1), limit + len(REDACTED) - 1)
        return clean[:marker + len(REDACTED)] if 0 <= marker < limit else clean[:limit]


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without its user:password part, and that part decoded (None without one). A client given the
    credentials apart sends the same basic auth, and its own log lines (httpx's, per request) show no password."""
    parts = urlsplit(str(url))
    if parts.username is None and parts.password is None:
        return str(url), None
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


def _url_forms(secret: str) -> set[str]:
    encoded = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    return encoded | {_PERCENT_ESCAPE.sub(lambda escape: escape.group().lower(), form) for form in encoded}


def _base64_forms(secret: str) -> set[str]:
    """The secret base64-encoded at each byte alignment within a longer value: the characters that depend on the
    secret's bytes alone (and, at its end, the padding an encoder adds when the value ends with it)."""
    data = secret.encode()
    forms = set()
    for shift, lead in ((0, 0), (1, 2), (2, 3)):  # lead: characters that also encode the bytes before the secret
        encoded = base64.b64encode(b"\0" * shift + data).decode()[lead:]
        forms |= {encoded, encoded.replace("+", "-").replace("/", "_")}
    return forms


def _basic_auth(pair: str) -> str:
    return base64.b64encode(pair.encode()).decode()


def _encodings(secret: str) -> set[str]:
    return _url_forms(secret) | _base64_forms(secret)
