"""Gemini ``models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse`` (what the
Gemini CLI speaks with an API key), as the API reference (ai.google.dev, "Generating content")
shows them; errors are google.rpc statuses: 429 ``RESOURCE_EXHAUSTED``, 503 ``UNAVAILABLE``.
"""

from __future__ import annotations

import json

from tests.modelserver.script import Json, Say, Shell, Step, Tool, Usage
from tests.modelserver.wire import Reply, sse

ERRORS = {
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    529: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    500: ("INTERNAL", "An internal error has occurred."),
}


def error(status: int) -> Reply:
    code = 503 if status == 529 else status
    name, message = ERRORS[status]
    body = {"error": {"code": code, "message": message, "status": name}}
    if code == 429:  # what a per-minute quota carries: which quota, and when to retry
        violation = {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
        }
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
        ]
    return Reply(code, json.dumps(body).encode(), "application/json")


def reply(step: Step | None, model: str, stream: bool, side_text: str) -> Reply:
    if isinstance(step, Shell):
        arguments = {"command": step.command, "description": "Run the scripted command"}
        step = Tool("run_shell_command", arguments, step.usage)
    if isinstance(step, Tool):
        part: Json = {"functionCall": {"name": step.name, "args": step.arguments}}
        usage = step.usage
    else:
        text, usage = (step.text, step.usage) if isinstance(step, Say) else (side_text, Usage())
        part = {"text": text}
    content = {
        "candidates": [{"content": {"parts": [part], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": usage.all_input,
            "candidatesTokenCount": usage.output,
            "totalTokenCount": usage.all_input + usage.output,
            "cachedContentTokenCount": usage.cache_read,
        },
        "modelVersion": model,
        "responseId": "scripted",
    }
    if stream:
        return Reply(200, sse([(None, content)]), "text/event-stream")
    return Reply(200, json.dumps(content).encode(), "application/json")


def count_tokens(body: Json) -> Reply:
    return Reply(200, json.dumps({"totalTokens": len(json.dumps(body)) // 4}).encode(), "application/json")
