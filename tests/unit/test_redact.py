"""ray_eval.redact: an endpoint's secrets out of a text, whole, in part at any place, and encoded; ordinary words
left alone; the redactor itself never shows a secret."""

from __future__ import annotations

import base64
import pickle
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from ray_eval.config import OpenAIEngineConfig
from ray_eval.engines import EngineSpec
from ray_eval.redact import MIN_FRAGMENT, REDACTED, Redactor, split_credentials

KEY = "sk-RELTEST-7f3aQ9/vX2mLp+4RtZw8"
PASSWORD = "Hq7/xP2+ma9Zr"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def redact() -> Redactor:
    return Redactor.for_endpoint(SecretStr(KEY), f"https://evaluser:{quote(PASSWORD, safe='')}@llm.example/v1")


def test_the_whole_key_and_the_urls_password_are_replaced(redact: Redactor) -> None:
    assert redact(f"HTTP 401: bad key {KEY} for user") == "HTTP 401: bad key [redacted] for user"
    assert redact(f"{KEY}{KEY}") == REDACTED
    assert redact(f"password {PASSWORD}!") == "password [redacted]!"


@pytest.mark.parametrize("text, expected", [
    (f"cut at the end: Bearer {KEY[:MIN_FRAGMENT]}", "cut at the end: Bearer [redacted]"),
    (f"{KEY[-MIN_FRAGMENT:]} is not a valid key", "[redacted] is not a valid key"),
    (f"a proxy cut it: {KEY[5:19]}... (truncated)", "a proxy cut it: [redacted]... (truncated)"),
])
def test_a_run_of_eight_characters_of_the_key_is_the_key_wherever_it_is(redact: Redactor, text: str,
                                                                        expected: str) -> None:
    assert redact(text) == expected


def test_seven_characters_of_the_key_and_ordinary_words_are_left_alone(redact: Redactor) -> None:
    short = KEY[:MIN_FRAGMENT - 1]  # "sk-RELT": shorter than a fragment
    text = f"{short} and {KEY[-(MIN_FRAGMENT - 1):]}: The sign says Lucky Mart; staff wear hats. 门店 sk- key test"
    assert redact(text) == text
    assert redact("") == "" and redact(None) is None


@pytest.mark.parametrize("encoded", [
    quote(KEY, safe=""), quote(KEY, safe="").replace("%2F", "%2f").replace("%2B", "%2b"), quote_plus(KEY),
    b64(KEY), base64.urlsafe_b64encode(KEY.encode()).decode(),
    b64(f"evaluser:{PASSWORD}"), quote(PASSWORD, safe=""),
])
def test_url_and_base64_encodings_are_the_key_too(redact: Redactor, encoded: str) -> None:
    assert encoded != KEY
    assert redact(f"echo: {encoded} end") == "echo: [redacted] end"


@pytest.mark.parametrize("prefix", ["", "x", "xy", "Basic evaluser:"])
def test_base64_of_a_longer_value_holding_the_key_loses_the_keys_characters(redact: Redactor, prefix: str) -> None:
    encoded = b64(f"{prefix}{KEY} and more after it")
    redacted = redact(f"token {encoded}")
    assert redacted.startswith("token ") and redacted.count(REDACTED) == 1
    kept = redacted.removeprefix("token ").replace(REDACTED, "")
    # Gone: every character that encodes only the key's bytes (a base64 character holds 6 bits of them).
    assert len(encoded) - len(kept) >= len(KEY) * 8 // 6 - 1
    assert kept.startswith(b64(prefix)[:len(prefix) * 8 // 6])  # what encodes the text before the key stays


def test_a_short_secret_is_redacted_only_whole() -> None:
    redact = Redactor.for_endpoint(SecretStr("Ab3$x"), None)
    assert redact("key Ab3$x, and Ab3 alone") == "key [redacted], and Ab3 alone"
    assert redact(f"url-encoded {quote('Ab3$x', safe='')}") == "url-encoded [redacted]"
    basic = Redactor.for_endpoint(None, "http://bob:pw12@engine.test/v1")  # sent as basic auth: found whole
    assert basic(f"headers: Authorization: Basic {b64('bob:pw12')}") == "headers: Authorization: Basic [redacted]"


def test_excerpt_redacts_before_it_cuts_and_keeps_the_marker_whole(redact: Redactor) -> None:
    page = "<html>" + "x" * 184 + KEY + "</html>"  # the key from character 190
    assert redact.excerpt(page, 200) == "<html>" + "x" * 184 + REDACTED
    assert redact.excerpt(page, 195) == "<html>" + "x" * 184 + REDACTED  # the cut would split the marker
    assert redact.excerpt(page, 100) == page[:100]
    assert redact.excerpt("short", 200) == "short"


def test_no_secrets_no_change() -> None:
    redact = Redactor.for_endpoint(None, "http://127.0.0.1:8000/v1")
    assert not redact and redact(f"anything {KEY}") == f"anything {KEY}"


def test_the_redactor_never_shows_a_secret_and_pickles_as_secrets(redact: Redactor) -> None:
    assert repr(redact) == "Redactor(2 secret(s))" and KEY not in str(redact)
    copy = pickle.loads(pickle.dumps(redact))
    assert copy(f"x {KEY} y") == "x [redacted] y" and repr(copy) == repr(redact)


def test_an_engine_spec_carries_its_endpoints_secrets_and_shows_none() -> None:
    config = OpenAIEngineConfig(base_url=f"https://evaluser:{quote(PASSWORD, safe='')}@llm.example/v1", model="m")
    spec = EngineSpec(config, SecretStr(KEY), 4)
    assert spec.redactor(f"{KEY} {PASSWORD}") == "[redacted] [redacted]"
    shown = repr(spec)
    assert shown == "EngineSpec(openai 'm' at https://llm.example/v1, api_key=SecretStr('**********'), max_in_flight=4)"
    assert pickle.loads(pickle.dumps(spec)).redactor(KEY) == REDACTED


def test_split_credentials_keeps_the_rest_of_the_url() -> None:
    assert split_credentials("https://u:p%2Fw@host:8443/v1?x=1") == ("https://host:8443/v1?x=1", ("u", "p/w"))
    assert split_credentials("https://token@host/v1") == ("https://host/v1", ("token", ""))
    assert split_credentials("http://host/v1") == ("http://host/v1", None)
    assert Redactor.for_endpoint(None, "https://token@host/v1")("sent token") == "sent [redacted]"
