"""OpenAI Responses (``POST /v1/responses``, streamed: what Codex speaks) and Chat Completions
(``POST /v1/chat/completions``, streamed or whole: what Aider speaks through litellm).

Event names, object shapes and error bodies follow the API reference (platform.openai.com,
"Streaming events" for Responses; the ``chat.completion``/``chat.completion.chunk`` objects);
a 429 is ``rate_limit_exceeded``, an overload a 503 ``server_error``.
"""

from __future__ import annotations

import json
import time
import uuid

from tests.modelserver.script import Json, Say, Shell, Step, Tool, Usage
from tests.modelserver.wire import Reply, sse

ERRORS = {
    429: (
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        "requests",
        "rate_limit_exceeded",
    ),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
    529: ("The server is overloaded or not ready yet.", "server_error", None),
    500: ("The server had an error while processing your request.", "server_error", None),
}


def error(status: int) -> Reply:
    message, kind, code = ERRORS[status]
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    # x-should-retry false: the OpenAI SDKs' own retries stay out of the count; the CLI's remain.
    headers = {"retry-after": "0", "x-should-retry": "false"}
    return Reply(503 if status == 529 else status, json.dumps(body).encode(), "application/json", headers)


def shell_call(step: Shell, tools: list[Json]) -> Tool:
    """The shell tool the request offers, called with ``step.command`` in that tool's shape."""
    names = {str(t.get("name") or (t.get("function") or {}).get("name")) for t in tools}
    if "exec_command" in names:  # Codex 0.1xx: unified exec
        return Tool("exec_command", {"cmd": step.command}, step.usage)
    if "shell_command" in names:
        return Tool("shell_command", {"command": step.command}, step.usage)
    return Tool("shell", {"command": ["bash", "-lc", step.command]}, step.usage)


# -- Responses -------------------------------------------------------------------------


def response(step: Step | None, body: Json, side_text: str) -> Reply:
    if isinstance(step, Shell):
        step = shell_call(step, list(body.get("tools") or []))
    item, usage = _item(step, side_text)
    resp = _response(str(body.get("model") or "gpt"), "in_progress", [], None)
    done = _response(resp["model"], "completed", [item], usage)
    done["id"] = resp["id"]
    added = {**item, "status": "in_progress"}
    if item["type"] == "message":
        added["content"] = []
        part = item["content"][0]
        deltas = [
            ("response.content_part.added", {"part": {**part, "text": ""}, "content_index": 0}),
            ("response.output_text.delta", {"delta": part["text"], "content_index": 0}),
            ("response.output_text.done", {"text": part["text"], "content_index": 0}),
            ("response.content_part.done", {"part": part, "content_index": 0}),
        ]
    else:
        added["arguments"] = ""
        deltas = [
            ("response.function_call_arguments.delta", {"delta": item["arguments"]}),
            ("response.function_call_arguments.done", {"arguments": item["arguments"]}),
        ]
    events: list[tuple[str, Json]] = [
        ("response.created", {"response": resp}),
        ("response.in_progress", {"response": resp}),
        ("response.output_item.added", {"output_index": 0, "item": added}),
        *[(name, {**data, "item_id": item["id"], "output_index": 0}) for name, data in deltas],
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": done}),
    ]
    numbered = [(name, {"type": name, "sequence_number": i, **data}) for i, (name, data) in enumerate(events)]
    if not body.get("stream"):
        return Reply(200, json.dumps(done).encode(), "application/json")
    return Reply(200, sse(numbered), "text/event-stream")


def _item(step: Step | None, side_text: str) -> tuple[Json, Usage]:
    if isinstance(step, Tool):
        call = {
            "type": "function_call",
            "id": f"fc_{uuid.uuid4().hex[:24]}",
            "call_id": f"call_{uuid.uuid4().hex[:24]}",
            "name": step.name,
            "arguments": json.dumps(step.arguments),
            "status": "completed",
        }
        return call, step.usage
    text, usage = (step.text, step.usage) if isinstance(step, Say) else (side_text, Usage())
    message = {
        "type": "message",
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    return message, usage


def _response(model: str, status: str, output: list[Json], usage: Usage | None) -> Json:
    resp: Json = {
        "id": f"resp_{uuid.uuid4().hex[:24]}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": None,
    }
    if usage is not None:
        resp["usage"] = {
            "input_tokens": usage.all_input,
            "input_tokens_details": {"cached_tokens": usage.cache_read},
            "output_tokens": usage.output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.all_input + usage.output,
        }
    return resp


# -- Chat Completions ------------------------------------------------------------------


def chat(step: Step | None, body: Json, side_text: str) -> Reply:
    if isinstance(step, Shell):
        step = shell_call(step, list(body.get("tools") or []))
    model = str(body.get("model") or "gpt")
    message: Json = {"role": "assistant", "content": None}
    if isinstance(step, Tool):
        function = {"name": step.name, "arguments": json.dumps(step.arguments)}
        call = {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": function}
        message["tool_calls"], finish, usage = [call], "tool_calls", step.usage
    else:
        text, usage = (step.text, step.usage) if isinstance(step, Say) else (side_text, Usage())
        message["content"], finish = text, "stop"
    usage_json = {
        "prompt_tokens": usage.all_input,
        "completion_tokens": usage.output,
        "total_tokens": usage.all_input + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read},
    }
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": model}
    if not body.get("stream"):
        choice = {"index": 0, "message": message, "finish_reason": finish}
        whole = {**base, "object": "chat.completion", "choices": [choice], "usage": usage_json}
        return Reply(200, json.dumps(whole).encode(), "application/json")
    chunk = {**base, "object": "chat.completion.chunk"}
    delta = {k: v for k, v in message.items() if v is not None}
    if "tool_calls" in delta:
        delta["tool_calls"] = [{"index": 0, **delta["tool_calls"][0]}]
    chunks: list[Json] = [
        {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
    ]
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**chunk, "choices": [], "usage": usage_json})
    data = sse([(None, c) for c in chunks]) + b"data: [DONE]\n\n"
    return Reply(200, data, "text/event-stream")
