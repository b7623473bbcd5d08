"""The examples each command's ``--help`` ends with (argparse epilogs)."""

from __future__ import annotations

__all__ = ["EXAMPLES"]

EXAMPLES = {
    "check": """examples:
  policy check '5xx:backoff(3,1s..30s,x2,jitter) 429:headers()'
  policy check --strict -f policies.txt
  policy check -f pyproject.toml --key tool.myapp.retry
  policy check -f services.yaml --key 'services.*.retry' --json""",
    "fmt": """examples:
  policy fmt '5XX:backoff(3)'
  policy fmt --check -f policies.txt
  policy fmt --write -f services.yaml --key 'services.*.retry'""",
    "explain": """examples:
  policy explain '5xx:backoff(3,1s..30s,x2,jitter) 429:headers()'
  policy explain --json @standard
  policy explain --plot envelope.svg '5xx:backoff(5,1s..1m,jitter)'
(quote a policy that has spaces: it is one argument)""",
    "simulate": """examples:
  policy simulate '5xx:backoff(3,1s..30s)' --outcomes 503,503,200 --seed 1 --now 0
  policy simulate '429:headers()' --outcomes 429,200 --headers '1:Retry-After: 2'
  policy simulate '5xx:backoff(5,jitter)' --clients 100 --capacity 10/s --plot fleet.png""",
    "convert": """examples:
  policy convert '5xx:backoff(3,1s..30s)' --to options
  policy convert -f options.json --to policy""",
    "presets": """examples:
  policy presets
  policy presets --names""",
    "fetch": """examples:
  policy fetch https://example.org/ --retry '5xx:backoff(3,1s..30s,jitter)'
  policy fetch https://api.example/orders -d '{"id": 1}' -H 'Content-Type: application/json'
  policy fetch https://api.example/report --cache-key report-42 --store results.db""",
    "demo": """examples:
  policy demo""",
}
