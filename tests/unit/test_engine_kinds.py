"""Engine kinds (ray_eval/engines/kinds.py): each `engine.kind` as an object that opens, checks, sizes, describes
and redacts itself; and no code outside ray_eval/engines/ asks which kind an engine block is."""

from __future__ import annotations

import ast
import asyncio
import typing
from pathlib import Path

import pytest
from pydantic import SecretStr

import ray_eval
import ray_eval.config as config_module
from ray_eval.config import EngineConfig, OpenAIEngineConfig, ScriptedEngineConfig, ServeHandleEngineConfig
from ray_eval.data.dataset import RunScan, scan_dataset
from ray_eval.engines import ChatRequest, EngineSpec, OpenAIChatEngine, build_engine, engine_kind
from ray_eval.engines.kinds import ENGINE_KINDS, OpenAIKind, ScriptedKind, ServeHandleKind
from ray_eval.errors import ConfigError, EngineUnavailable
from ray_eval.redact import REDACTED
from ray_eval.testing import ScriptedOpenAIServer
from tests.conftest import free_port, mcq_row, write_jsonl

PASSWORD = "s3cret-pass"
ENGINE_CONFIG_CLASSES = {name for name in dir(config_module) if name.endswith("EngineConfig")}


def not_scanned():
    raise AssertionError("only the scripted kind reads the dataset")


# ---- no kind switch outside ray_eval/engines/ ----------------------------------------------------------------------


def engine_config_isinstance_calls(tree: ast.AST) -> list[int]:
    """Lines of `isinstance(x, <engine config class>)` (or a tuple holding one), by name or attribute."""
    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Tuple):
            return [name for element in node.elts for name in names(element)]
        if isinstance(node, ast.Name):
            return [node.id]
        if isinstance(node, ast.Attribute):
            return [node.attr]
        return []

    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
            and len(node.args) == 2 and ENGINE_CONFIG_CLASSES & set(names(node.args[1]))]


def test_the_walk_finds_an_isinstance_on_an_engine_config() -> None:
    source = ("if isinstance(engine, OpenAIEngineConfig): pass\n"
              "ok = isinstance(x, (int, config.ScriptedEngineConfig))\n"
              "fine = isinstance(x, dict)\n")
    assert engine_config_isinstance_calls(ast.parse(source)) == [1, 2]


def test_no_isinstance_on_engine_configs_outside_the_engines_package() -> None:
    package = Path(ray_eval.__file__).parent
    found = [f"{path.relative_to(package.parent)}:{line}"
             for path in sorted(package.rglob("*.py")) if "engines" not in path.relative_to(package).parts[:1]
             for line in engine_config_isinstance_calls(ast.parse(path.read_text(encoding="utf-8")))]
    assert {"OpenAIEngineConfig", "ServeHandleEngineConfig", "ScriptedEngineConfig"} <= ENGINE_CONFIG_CLASSES
    assert found == [], "ask the engine's kind (ray_eval.engines.kinds) instead of its config class"


# ---- the registry --------------------------------------------------------------------------------------------------


def test_every_config_kind_has_exactly_one_kind_object() -> None:
    union = typing.get_args(typing.get_args(EngineConfig)[0])
    assert sorted(ENGINE_KINDS) == sorted(cls.model_fields["kind"].default for cls in union)
    assert type(engine_kind(OpenAIEngineConfig(base_url="http://h/v1", model="m"))) is OpenAIKind
    assert type(engine_kind(ServeHandleEngineConfig(model="m"))) is ServeHandleKind
    assert type(engine_kind(ScriptedEngineConfig())) is ScriptedKind


def test_only_a_serve_handle_needs_the_process_connected_to_ray() -> None:
    """The canary connects to Ray for the kind that sends its requests through Ray, and only for it."""
    needs = {name: kind.needs_ray for name, kind in ENGINE_KINDS.items()}
    assert needs == {"openai": False, "serve_handle": True, "scripted": False}


# ---- openai --------------------------------------------------------------------------------------------------------


def test_openai_kind_describes_itself_without_the_urls_credentials() -> None:
    kind = engine_kind(OpenAIEngineConfig(base_url=f"https://user:{PASSWORD}@llm.example/v1", model="m"))
    assert kind.describe().model_dump() == {"kind": "openai", "model": "m", "base_url": "https://llm.example/v1"}
    assert kind.location() == "https://llm.example/v1"
    assert not kind.stand_in and kind.endpoint is kind.config
    assert kind.capacity() is None  # unknown: the config's engine_capacity or the default applies
    assert kind.redactor(SecretStr("sk-key-123456"))(f"key sk-key-123456 pass {PASSWORD}") == \
        f"key {REDACTED} pass {REDACTED}"


def test_openai_kind_is_checked_before_ray_unless_the_run_deploys_its_serve_app() -> None:
    kind = engine_kind(OpenAIEngineConfig(base_url="http://h/v1", model="m"))
    assert kind.preflight_before_ray(serve_deployed_by_run=False) is True
    assert kind.preflight_before_ray(serve_deployed_by_run=True) is False


def test_openai_kind_reads_its_key_from_the_named_variable_or_file(tmp_path: Path) -> None:
    by_env = engine_kind(OpenAIEngineConfig(base_url="http://h/v1", model="m", api_key_env="EVAL_KEY"))
    assert by_env.api_key({"EVAL_KEY": "sk-env"}).get_secret_value() == "sk-env"
    with pytest.raises(ConfigError, match="^engine.api_key_env: environment variable EVAL_KEY is not set$"):
        by_env.api_key({})
    key_file = tmp_path / "key"
    by_file = engine_kind(OpenAIEngineConfig(base_url="http://h/v1", model="m", api_key_file=key_file))
    with pytest.raises(ConfigError, match=f"^engine.api_key_file: cannot read {key_file}: No such file"):
        by_file.api_key({})
    key_file.write_text("\n")
    with pytest.raises(ConfigError, match=f"^engine.api_key_file: {key_file} is empty$"):
        by_file.api_key({})
    key_file.write_text("sk-file\n")
    assert by_file.api_key({}).get_secret_value() == "sk-file"
    assert engine_kind(OpenAIEngineConfig(base_url="http://h/v1", model="m")).api_key({"EVAL_KEY": "x"}) is None


def test_openai_preflight_passes_a_serving_endpoint_and_names_an_unreachable_one() -> None:
    with ScriptedOpenAIServer(model="served-model") as server:
        engine_kind(OpenAIEngineConfig(base_url=server.base_url, model="served-model")).preflight(None)
        with pytest.raises(EngineUnavailable, match="does not serve model 'other'"):
            engine_kind(OpenAIEngineConfig(base_url=server.base_url, model="other")).preflight(None)
    with pytest.raises(EngineUnavailable, match="unreachable"):
        engine_kind(OpenAIEngineConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m")).preflight(None)


def test_openai_client_carries_the_key_and_the_actors_requests_in_flight() -> None:
    spec = EngineSpec.of(OpenAIEngineConfig(base_url="http://h/v1", model="m", api_key_env="K"), {"K": "sk-x"}, 7)
    assert spec.api_key.get_secret_value() == "sk-x"
    client = build_engine(spec)
    try:
        assert isinstance(client, OpenAIChatEngine)
        assert client.model == "m" and client._in_flight._value == 7
    finally:
        asyncio.run(client.aclose())


# ---- serve_handle --------------------------------------------------------------------------------------------------


def test_serve_handle_kind_describes_its_app_and_deployment() -> None:
    kind = engine_kind(ServeHandleEngineConfig(model="org/tiny.v1", app_name="llm2"))
    assert kind.describe().model_dump() == {"kind": "serve_handle", "model": "org/tiny.v1", "app_name": "llm2",
                               "deployment": "LLMServer:org--tiny_v1"}
    assert kind.location() == "" and not kind.stand_in
    assert kind.preflight_before_ray(serve_deployed_by_run=False) is False  # a handle needs Ray running
    assert kind.redactor(None)("nothing secret here") == "nothing secret here"


def test_serve_handle_kind_is_checked_and_sized_by_serve(monkeypatch) -> None:
    import ray_eval.serving.serve_app as serve_app

    config = ServeHandleEngineConfig(model="m")
    asked: list[tuple[str, ServeHandleEngineConfig]] = []

    def check(engine):
        asked.append(("check", engine))
        raise EngineUnavailable("no Serve app 'llm' is running; running: []")

    monkeypatch.setattr(serve_app, "check_handle_target", check)
    monkeypatch.setattr(serve_app, "serve_capacity", lambda engine: asked.append(("capacity", engine)) or (64, "Serve"))
    kind = engine_kind(config)
    with pytest.raises(EngineUnavailable, match="no Serve app 'llm' is running"):
        kind.preflight(None)
    assert kind.capacity() == (64, "Serve")
    assert asked == [("check", config), ("capacity", config)]


# ---- scripted ------------------------------------------------------------------------------------------------------


def test_scripted_kind_has_no_endpoint_until_its_stand_in_runs(media_dir: Path) -> None:
    kind = engine_kind(ScriptedEngineConfig(accuracy=1.0, blind_accuracy=0.0, model="stand-in"))
    assert kind.stand_in and kind.endpoint is None
    assert kind.describe().model_dump() == {"kind": "scripted", "model": "stand-in"}
    scan = scan_dataset(write_jsonl(media_dir / "m.jsonl", [mcq_row("q1", answer="C")]))
    with kind.reachable(lambda: RunScan([scan]), stand_in_timeout_s=12.0) as endpoint:
        assert engine_kind(endpoint).describe().base_url.startswith("http://127.0.0.1:")
        assert (endpoint.model, endpoint.timeout_s) == ("stand-in", 12.0)
        spec = EngineSpec.of(endpoint, {}, 1)
        spec.preflight()
        # The dataset's own reference (accuracy 1.0) asked with the image; a wrong letter blind (blind_accuracy 0).
        assert asyncio.run(ask(spec, "q1", with_image=True)) == "The answer is C."
        assert asyncio.run(ask(spec, "q1", with_image=False)) in {"A", "B", "D"}
        # The request's suite header picks the sample: q1 of another suite is not this one.
        assert asyncio.run(ask(spec, "q1", with_image=True, suite="other")) == "I do not know this question."
    with pytest.raises(EngineUnavailable, match="unreachable"):
        spec.preflight()  # the stand-in stops with the block


async def ask(spec: EngineSpec, sample_id: str, with_image: bool, suite: str = "m") -> str:
    image = [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AA=="}}] if with_image else []
    content = [*image, {"type": "text", "text": "Which shop?"}]
    client = build_engine(spec)
    try:
        request = ChatRequest(sample_id=sample_id, messages=[{"role": "user", "content": content}], max_tokens=8,
                              temperature=0.0, suite=suite)
        return (await client.chat(request)).text
    finally:
        await client.aclose()


def test_endpoint_kinds_are_reachable_as_configured_without_reading_the_dataset() -> None:
    for config in (OpenAIEngineConfig(base_url="http://h/v1", model="m"), ServeHandleEngineConfig(model="m")):
        with engine_kind(config).reachable(not_scanned, stand_in_timeout_s=1.0) as endpoint:
            assert endpoint is config
