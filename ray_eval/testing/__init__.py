"""Test helpers for ray-eval and for users' own tests of their evaluation setups."""

from ray_eval.testing.replies import (
    MALFORMED_KINDS,
    SAMPLE_HEADER,
    ChatRequestInfo,
    Policy,
    Reply,
    constant,
    from_answers,
    random_choice,
)
from ray_eval.testing.scripted_server import ScriptedOpenAIServer

__all__ = [
    "MALFORMED_KINDS",
    "SAMPLE_HEADER",
    "ChatRequestInfo",
    "Policy",
    "Reply",
    "ScriptedOpenAIServer",
    "constant",
    "from_answers",
    "random_choice",
]
