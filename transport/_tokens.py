"""``estimate_tokens``: a rough token count of an OpenAI or Anthropic JSON request body, for
``cost=`` (a request's units per rate-limit family).

Pure and dependency-free: the prompt's characters / 4 (rounded up) plus the completion
budget the request reserves (``max_completion_tokens``, ``max_tokens`` or
``max_output_tokens``).  The APIs count tokens with their own tokenizers and reserve the
completion budget against the tokens-per-minute limit, so the estimate errs the way a
pacer wants: about right for English text, never ignoring the output budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["estimate_tokens"]

#: Fields whose text is the prompt (chat, completions, responses, Anthropic messages).
_PROMPT_FIELDS = ("messages", "system", "prompt", "input", "instructions", "tools")
#: Fields the model reads as text within them; anything else (role names, ids) is skipped.
_TEXT_KEYS = frozenset(
    (
        "content",
        "text",
        "system",
        "prompt",
        "input",
        "instructions",
        "arguments",
        "description",
        "parameters",
        "input_schema",
        "name",
    )
)
#: Blocks that carry binary data (images, documents): not characters of the prompt.
_SKIP_KEYS = frozenset(("image_url", "source", "data", "file", "file_data", "image"))
#: The completion budget, in the order the APIs prefer them.
_BUDGET_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
_MAX_DEPTH = 64


def _chars(value: Any, depth: int = 0) -> int:
    """Characters of the text in ``value`` (strings, and text fields of nested objects)."""
    if depth > _MAX_DEPTH:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        total = 0
        for key, item in value.items():
            if key in _SKIP_KEYS:
                continue
            if key in _TEXT_KEYS:
                total += _all_chars(item, depth + 1)
            elif isinstance(item, Mapping | list):
                total += _chars(item, depth + 1)
        return total
    if isinstance(value, list):
        return sum(_chars(item, depth + 1) for item in value)
    return 0


def _all_chars(value: Any, depth: int) -> int:
    """Every string under a text field (a JSON schema's words count too; ``type`` tags
    such as ``"text"`` do not)."""
    if depth > _MAX_DEPTH:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(
            _all_chars(v, depth + 1)
            for k, v in value.items()
            if k not in _SKIP_KEYS and k != "type"
        )
    if isinstance(value, list):
        return sum(_all_chars(v, depth + 1) for v in value)
    return 0


def _budget(body: Mapping[str, Any]) -> int:
    for field in _BUDGET_FIELDS:
        n = body.get(field)
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
    return 0


def estimate_tokens(body: bytes | bytearray | memoryview | str | Mapping[str, Any] | None) -> int:
    """The tokens an OpenAI / Anthropic JSON request is likely to spend: its prompt's
    characters / 4, rounded up, plus ``max_completion_tokens`` / ``max_tokens`` /
    ``max_output_tokens``.

    ``body`` is the request body (bytes or text of JSON) or the decoded object.  The
    prompt is the text of ``messages`` (string contents and ``text`` parts), ``system``,
    ``prompt``, ``input``, ``instructions`` and ``tools``; images and files are not
    counted.  A body that is not a JSON object (none, form data, a stream) is 0: use it
    as ``cost=lambda request: {"tokens": estimate_tokens(request.content)}``.
    """
    if body is None:
        return 0
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            body = json.loads(bytes(body) if not isinstance(body, str) else body)
        except (ValueError, RecursionError):
            return 0
    if not isinstance(body, Mapping):
        return 0
    chars = 0
    for field in _PROMPT_FIELDS:
        if field in body:
            value = body[field]
            chars += len(value) if isinstance(value, str) else _chars(value)
    return -(-chars // 4) + _budget(body)
