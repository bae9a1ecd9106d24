"""Anthropic Messages (``POST /v1/messages``), streamed as server-sent events or whole.

The event sequence and error bodies are the documented ones (docs.anthropic.com,
"Streaming Messages" and "Errors"): ``message_start`` carries the input usage,
``message_delta`` the output tokens; 429 is ``rate_limit_error``, 529 ``overloaded_error``.
"""

from __future__ import annotations

import json
import uuid

from tests.modelserver.script import Json, Say, Shell, Step, Tool, Usage
from tests.modelserver.wire import Reply, sse

ERRORS = {
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. "
        "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    529: ("overloaded_error", "Overloaded"),
    503: ("api_error", "Service unavailable"),
    500: ("api_error", "Internal server error"),
}


def error(status: int) -> Reply:
    kind, message = ERRORS[status]
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": f"req_{uuid.uuid4().hex[:24]}"}
    # retry-after 0: the CLI's retries are not what a test should wait on; it still retries.
    return Reply(status, json.dumps(body).encode(), "application/json", {"retry-after": "0"})


def reply(step: Step | None, body: Json, side_text: str) -> Reply:
    model = str(body.get("model") or "claude")
    blocks, stop, usage = _blocks(step, side_text)
    if body.get("stream"):
        return Reply(200, _stream(model, blocks, stop, usage), "text/event-stream")
    message = _message(model, blocks, stop, usage)
    return Reply(200, json.dumps(message).encode(), "application/json")


def count_tokens(body: Json) -> Reply:
    return Reply(200, json.dumps({"input_tokens": len(json.dumps(body)) // 4}).encode(), "application/json")


def _blocks(step: Step | None, side_text: str) -> tuple[list[Json], str, Usage]:
    if isinstance(step, Shell):
        tool = Tool("Bash", {"command": step.command, "description": "Run the scripted command"}, step.usage)
        return _blocks(tool, side_text)
    if isinstance(step, Tool):
        block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": step.name, "input": step.arguments}
        return [block], "tool_use", step.usage
    if isinstance(step, Say):
        return [{"type": "text", "text": step.text}], "end_turn", step.usage
    return [{"type": "text", "text": side_text}], "end_turn", Usage()


def _usage(usage: Usage, output: int) -> Json:
    return {
        "input_tokens": usage.input,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "output_tokens": output,
    }


def _message(model: str, blocks: list[Json], stop: str, usage: Usage) -> Json:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(usage, usage.output),
    }


def _stream(model: str, blocks: list[Json], stop: str, usage: Usage) -> bytes:
    start = _message(model, [], "", usage)
    start.update(stop_reason=None, usage=_usage(usage, 0))
    events: list[tuple[str, Json]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(blocks):
        empty: Json
        delta: Json
        if block["type"] == "text":
            empty, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            empty = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty}),
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage.output},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return sse(events)
