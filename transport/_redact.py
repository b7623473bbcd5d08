"""Secrets that are sent but never shown: ``Redacted`` values and URL masking.

The seed's ``redactString`` marks a header value (an API key, a bearer token) as secret:
the server gets it in full, but every place the library *shows* it -- ``str``, ``repr``,
log lines, ``RetryError`` and ``FetchError`` text, stored results -- sees only the
template with the secret parts masked.  ``Redacted`` is deliberately *not* a ``str``
subclass: string concatenation, ``json.dumps`` or an f-string would otherwise leak the
value silently.  The transport unwraps it (``reveal()``) at the last moment, when the
request headers are handed to urllib3.

URLs are shown with query values and passwords masked (``?token=***``), because query
strings are a common place for keys.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "Redacted", "mask_url", "reveal_headers"]

MASK = "********"


class Redacted:
    """A header value sent in full but shown as its template with the secrets masked.

    >>> token = Redacted("Bearer {}", "s3cr3t")
    >>> str(token), repr(token)
    ('Bearer ********', "Redacted('Bearer ********')")
    >>> token.reveal()
    'Bearer s3cr3t'
    """

    __slots__ = ("_secrets", "_template")

    def __init__(self, template: str, *secrets: object) -> None:
        if not isinstance(template, str):
            raise TypeError(f"template must be a str (got {type(template).__name__})")
        self._template = template
        self._secrets = tuple(str(s) for s in secrets)
        # Fail now, not when the request is sent, if the template and secrets disagree.
        self._template.format(*self._secrets)

    def reveal(self) -> str:
        """The full value, as sent on the wire."""
        return self._template.format(*self._secrets)

    def __str__(self) -> str:
        return self._template.format(*([MASK] * len(self._secrets)))

    def __repr__(self) -> str:
        return f"Redacted({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Redacted):
            return self.reveal() == other.reveal()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Redacted", self.reveal()))

    def __reduce__(self) -> Any:
        raise TypeError("a Redacted value cannot be pickled: it would store the secret")


def reveal_headers(headers: Any) -> tuple[dict[str, str], frozenset[str]]:
    """The headers to send (secrets revealed) and the lower-case names that were secret."""
    if not headers:
        return {}, frozenset()
    items = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, str] = {}
    secret: set[str] = set()
    for name, value in items:
        if isinstance(value, Redacted):
            secret.add(name.lower())
            revealed = value.reveal()
            if not _valid_header_value(revealed):
                # http.client would reject it with an error that quotes the value.
                raise ValueError(
                    f"header {name!r}: its Redacted value is not a valid header value "
                    "(it contains CR, LF, NUL or a character outside Latin-1); "
                    "the value is not shown"
                )
            out[name] = revealed
        elif isinstance(value, str):
            out[name] = value
        elif isinstance(value, bytes):
            out[name] = value.decode("latin-1")
        else:
            raise TypeError(
                f"header {name!r} must be a str, bytes or Redacted value "
                f"(got {type(value).__name__})"
            )
    return out, frozenset(secret)


def _valid_header_value(value: str) -> bool:
    """Whether ``value`` can be sent as a header value (Latin-1, no CR, LF or NUL)."""
    if "\r" in value or "\n" in value or "\0" in value:
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def mask_url(url: str) -> str:
    """The URL with every query value and any password replaced by ``***``.

    >>> mask_url("https://u:pw@api.example/v1?key=abc&page=2#frag")
    'https://u:***@api.example/v1?key=***&page=***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***") for k, _ in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
