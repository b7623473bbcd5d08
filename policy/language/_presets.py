"""The rules library: named policy fragments inserted by ``@name`` (SPEC §1.2).

Each preset is written in the policy language itself, parsed and validated when first
used (and by the test suite): ``text`` holds rules only; ``settings`` (also in the
language: ``attempts=3 sse=on``) are the defaults the preset carries, which a setting
written in the policy overrides.

Why in the language and not in Python: a preset is documentation a user can read, diff
and override.  ``policy fmt @github`` keeps the name; ``policy explain @github`` shows the
rules it stands for; ``@github 5xx:never`` replaces one of them by the ordinary
precedence rules (SPEC §2.1: the later rule wins at equal specificity).  Nothing here
decides anything: whatever a preset does, the same text written by hand does too.

How the presets read the vendors' headers, with the language as it stands:

* Several reset sources in order are a chain of ``headers`` strategies.  A ``headers``
  strategy that finds nothing usable, or whose family's ``remaining`` is above 0, yields
  no decision, so the next one in the chain is asked (SPEC §2.2, §2.4).  Every ``headers``
  strategy reads ``Retry-After`` first, so the server's explicit wait always wins.
* A status that is a rate limit only sometimes (GitHub's ``403``) gets a ``headers``
  strategy with no fallback: when the family's ``remaining`` is above 0 and there is no
  ``Retry-After``, the chain runs out and the call gives up, as it should for a 403 that
  means "forbidden".
* Server stop signals (``x-should-retry: false``, ``stripe-should-retry: false``) are
  obeyed by the evaluator for every rule; presets need not name them.
* ``reset`` and ``timeout`` (the request may have been processed) are retried only with
  the rule-level method limit ``[idempotent]`` (``@standard``, ``@openai``), never for
  every method: a preset holds no ``methods=`` setting, and a POST must not run twice.

Every backoff jitters (lint W101), every rule naming ``429`` or ``503`` reads the
server's headers (W104) and no limit is over 10 (W107).
"""

from __future__ import annotations

import attrs

__all__ = ["PRESETS", "Preset"]


@attrs.frozen
class Preset:
    """A named set of rules: ``text`` in the policy language, with what it is for."""

    name: str
    text: str
    description: str
    sources: tuple[str, ...] = ()
    settings: str = ""


_STANDARD = Preset(
    name="standard",
    text=(
        "429,503:headers(3,max=5m)|backoff(4,1s..30s,x2,jitter) "
        "502,504,connect:backoff(4,1s..30s,x2,jitter) "
        "reset,timeout[idempotent]:backoff(2,1s..30s,x2,jitter)"
    ),
    description=(
        "A safe default for any HTTP API: 429/503 wait as the server says (at most 5m), "
        "else jittered backoff; 502/504 and connection failures back off; broken "
        "connections and timeouts are retried only for idempotent methods."
    ),
    sources=(
        "RFC 9110 §10.2.3 Retry-After: https://www.rfc-editor.org/rfc/rfc9110#field.retry-after",
        "RFC 9110 §15.6 Server Error 5xx (502, 503, 504): "
        "https://www.rfc-editor.org/rfc/rfc9110#status.5xx",
        "IETF draft-ietf-httpapi-ratelimit-headers (RateLimit fields): "
        "https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/",
        "AWS Architecture Blog, Exponential Backoff And Jitter: "
        "https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/",
    ),
)

_GITHUB = Preset(
    name="github",
    text=(
        "403:headers(x-ratelimit-*,format=epoch,3,max=1h) "
        "429:headers(x-ratelimit-*,format=epoch,3,max=1h)|backoff(3,1m..4m,x2,jitter) "
        "5xx,connect:backoff(3,1s..30s,x2,jitter)"
    ),
    description=(
        "GitHub REST API: primary limits wait for x-ratelimit-reset (403/429 with "
        "remaining 0), secondary limits obey Retry-After, else wait at least 1m."
    ),
    sources=(
        "GitHub Docs, Rate limits for the REST API: "
        "https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api",
        "GitHub Docs, Best practices for using the REST API (handle rate limit errors "
        "appropriately): https://docs.github.com/en/rest/using-the-rest-api/"
        "best-practices-for-using-the-rest-api",
        "GitHub Docs, Troubleshooting the REST API (rate limit errors): "
        "https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api",
    ),
)

_OPENAI = Preset(
    name="openai",
    text=(
        "429:headers(reset-header=retry-after-ms,format=ms,2,max=2m)"
        "|headers(x-ratelimit-*-tokens,format=duration,2,max=2m)"
        "|headers(x-ratelimit-*-requests,format=duration,2,max=2m)"
        "|backoff(2,500ms..8s,x2,jitter) "
        "408,409,5xx:headers(reset-header=retry-after-ms,format=ms,2,max=2m)"
        "|backoff(2,500ms..8s,x2,jitter) "
        "connect:backoff(2,500ms..8s,x2,jitter) "
        "reset,timeout[idempotent]:backoff(2,500ms..8s,x2,jitter)"
    ),
    description=(
        "OpenAI API, as openai-python 3.3.1 retries: 408/409/429/5xx obey Retry-After or "
        "retry-after-ms up to 2m (longer: give up), else back off from 500ms, 2 retries; "
        "429 also waits for the exhausted x-ratelimit-reset-tokens/-requests (up to 2m)."
    ),
    sources=(
        "OpenAI Platform docs, Rate limits (rate limits in headers): "
        "https://platform.openai.com/docs/guides/rate-limits",
        "OpenAI Platform docs, Error codes (API errors 429, 500, 503): "
        "https://platform.openai.com/docs/guides/error-codes",
        "openai-python README, Retries (408, 409, 429, >=500 and connection errors, "
        "2 retries with exponential backoff): https://github.com/openai/openai-python#retries",
        "openai-python 3.3.1 retry code (_should_retry, _calculate_retry_timeout, "
        "_parse_retry_after_header): "
        "https://github.com/openai/openai-python/blob/v3.3.1/src/openai/_base_client.py",
        "openai-python 3.3.1 retry constants (DEFAULT_MAX_RETRIES, INITIAL_RETRY_DELAY, "
        "MAX_RETRY_DELAY, MAX_RETRY_AFTER_DELAY): "
        "https://github.com/openai/openai-python/blob/v3.3.1/src/openai/_constants.py",
        "Azure OpenAI quotas and limits (retry-after-ms): "
        "https://learn.microsoft.com/azure/ai-services/openai/quotas-limits",
    ),
    settings="attempts=3 sse=on",
)

_ANTHROPIC = Preset(
    name="anthropic",
    text=(
        "429:headers(anthropic-ratelimit-requests-*,format=iso,3)"
        "|headers(anthropic-ratelimit-tokens-*,format=iso,3) "
        "529:backoff(4,1s..30s,x2,jitter) "
        "408,409,5xx,connect:backoff(2,500ms..8s,x2,jitter)"
    ),
    description=(
        "Anthropic API: 429 waits for Retry-After or the exhausted RFC 3339 "
        "anthropic-ratelimit-*-reset (no header: give up); 529 overloaded backs off longer."
    ),
    sources=(
        "Anthropic docs, Rate limits (response headers): "
        "https://docs.anthropic.com/en/api/rate-limits",
        "Anthropic docs, Errors (HTTP errors 429, 500, 529 overloaded_error): "
        "https://docs.anthropic.com/en/api/errors",
        "anthropic-sdk-python README, Retries (408, 409, 429, >=500 and connection errors, "
        "2 retries): https://github.com/anthropics/anthropic-sdk-python#retries",
    ),
    settings="attempts=3 sse=on",
)

_STRIPE = Preset(
    name="stripe",
    text=(
        "429:headers(max=1m,over=skip)|backoff(2,500ms..5s,x2,jitter) "
        "409,5xx,connect:backoff(2,500ms..5s,x2,jitter)"
    ),
    description=(
        "Stripe API: obeys Stripe-Should-Retry: false; retries 429 rate limits and lock "
        "timeouts, 409 conflicts and 5xx with short jittered backoff (send Idempotency-Key)."
    ),
    sources=(
        "Stripe docs, Rate limits (handling limiting gracefully, lock timeouts): "
        "https://docs.stripe.com/rate-limits",
        "Stripe docs, Error handling (Stripe-Should-Retry, retries): "
        "https://docs.stripe.com/error-low-level",
        "Stripe docs, Idempotent requests: https://docs.stripe.com/api/idempotent_requests",
        "Stripe API reference, Errors (HTTP status codes 409, 429, 500): "
        "https://docs.stripe.com/api/errors",
    ),
)

_DISCORD = Preset(
    name="discord",
    text=(
        "429:headers(reset-header=x-ratelimit-reset-after,format=s,3)"
        "|headers(x-ratelimit-*,format=epoch,3) "
        "5xx,connect:backoff(3,1s..10s,x2,jitter)"
    ),
    description=(
        "Discord API: 429 waits for Retry-After or X-RateLimit-Reset-After seconds (no "
        "header: give up, to avoid Cloudflare bans); 5xx back off."
    ),
    sources=(
        "Discord Developer docs, Rate Limits (header format, exceeding a rate limit, "
        "invalid request limit): https://discord.com/developers/docs/topics/rate-limits",
    ),
)

#: Known presets by lower-case name, in the order the docs list them.
PRESETS: dict[str, Preset] = {
    p.name: p for p in (_STANDARD, _GITHUB, _OPENAI, _ANTHROPIC, _STRIPE, _DISCORD)
}
