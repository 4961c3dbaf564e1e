"""GPU tests reuse the engine fixtures (tiny model, dataset)."""

from tests.engine.conftest import engine_manifest, tiny_model  # noqa: F401
