"""A scripted model server for the tests: Anthropic Messages, OpenAI Responses and Chat
Completions, and Gemini generateContent, each streamed as its CLI asks, following one
``Script`` per test and recording the usage it sent (see docs/agents.md)."""

from tests.modelserver.script import Exchange, Fail, Hang, Say, Script, Shell, Step, Tool, Usage, iteration
from tests.modelserver.server import ModelServer, serve

__all__ = [
    "Exchange",
    "Fail",
    "Hang",
    "ModelServer",
    "Say",
    "Script",
    "Shell",
    "Step",
    "Tool",
    "Usage",
    "iteration",
    "serve",
]
