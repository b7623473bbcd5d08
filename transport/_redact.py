"""Secrets that are sent but never shown: ``Redacted`` values and URL masking.

The seed's ``redactString`` marks a header value (an API key, a bearer token) as secret:
the server gets it in full, but every place the library *shows* it -- ``str``, ``repr``,
log lines, ``RetryError`` and ``FetchError`` text, stored results -- sees only the
template with the secret parts masked.  ``Redacted`` is deliberately *not* a ``str``
subclass: string concatenation, ``json.dumps`` or an f-string would otherwise leak the
value silently.  The transport unwraps it (``reveal()``) at the last moment, when the
request headers are handed to urllib3.

URLs are shown with query values and userinfo masked (``?token=***``, ``//***@host``),
because query strings and URL user names and passwords are common places for keys.
That includes urllib3's own log lines (its ``connectionpool`` logs every request
target at DEBUG): ``install_log_filter()``, run once when ``transport`` is imported,
puts a filter on urllib3's loggers that masks query values and URL userinfo in every
record they emit.  The masking itself lives in ``_mask`` (re-exported here).
"""

from __future__ import annotations

import base64
import os
import string
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ._mask import (
    URLLIB3_LOGGERS,
    MaskQueryFilter,
    install_log_filter,
    mask_query,
    mask_text,
    mask_url,
)

__all__ = [
    "MASK",
    "URLLIB3_LOGGERS",
    "HeaderValueError",
    "MaskQueryFilter",
    "Redacted",
    "install_log_filter",
    "mask_query",
    "mask_text",
    "mask_url",
    "reveal_headers",
    "url_credentials",
]

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

    def __init__(self, template: str, *secrets: str) -> None:
        for i, secret in enumerate(secrets, 1):
            if not isinstance(secret, str):
                raise TypeError(
                    f"Redacted: secret {i} must be a str (got {type(secret).__name__}); "
                    "the value is not shown"
                )
        _check_template(template, len(secrets), "secret")
        self._template = template
        self._secrets = secrets

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

    @classmethod
    def env(cls, template: str, *names: str) -> Redacted:
        """A value whose secrets are environment variables, read when the request is sent.

        Only the template and the variable names are kept, so the value can travel to
        another process (a Celery worker) without the secret: the worker reads
        ``os.environ`` when it sends the request.

        >>> import os
        >>> os.environ["DOC_API_KEY"] = "s3cr3t"
        >>> token = Redacted.env("Bearer {}", "DOC_API_KEY")
        >>> str(token), token.names, token.reveal()
        ('Bearer ********', ('DOC_API_KEY',), 'Bearer s3cr3t')
        """
        return _EnvRedacted(template, *names)


def _check_template(template: object, count: int, what: str) -> None:
    """Refuse a template whose ``{}`` placeholders do not take exactly ``count`` values.

    Every message names the template (it holds no secret) and counts, never a secret.
    """
    if not isinstance(template, str):
        raise TypeError(f"Redacted: the template must be a str (got {type(template).__name__})")
    if count == 0:
        raise ValueError(
            f"Redacted({template!r}) has no {what}: pass the template and the {what}, "
            f"e.g. Redacted('Bearer {{}}', token)"
        )
    used: set[int] = set()
    auto = 0
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(
            f"Redacted: the template {template!r} is not a format string: {e}"
        ) from None
    for _, field, spec, _ in fields:
        if field is None:
            continue
        if spec and "{" in spec:
            raise ValueError(f"Redacted: the template {template!r} nests a placeholder")
        head = field.split(".", 1)[0].split("[", 1)[0]
        if head == "":
            used.add(auto)
            auto += 1
        elif head.isdigit():
            used.add(int(head))
        else:
            raise ValueError(
                f"Redacted: the template {template!r} has a named placeholder {{{field}}}; "
                f"use {{}} for each {what}"
            )
    if not used:
        raise ValueError(
            f"Redacted: the template {template!r} has no {{}} placeholder for its {what}"
            f"{'s' if count > 1 else ''}, so the {what} would never be sent"
        )
    if used != set(range(count)):
        raise ValueError(
            f"Redacted: the template {template!r} has placeholders for "
            f"{max(used) + 1} {what}{'s' if max(used) else ''} but {count} "
            f"{'were' if count > 1 else 'was'} given"
        )
    try:
        template.format(*([""] * count))
    except (ValueError, IndexError, KeyError, AttributeError, TypeError) as e:
        raise ValueError(
            f"Redacted: the template {template!r} cannot be filled: {type(e).__name__}"
        ) from None


class _EnvRedacted(Redacted):
    """``Redacted.env(template, *names)``: the secrets are read from ``os.environ``."""

    __slots__ = ("names",)

    def __init__(self, template: str, *names: str) -> None:
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(
                "Redacted.env needs the names of the environment variables that hold the "
                "secrets, e.g. Redacted.env('Bearer {}', 'API_KEY')"
            )
        _check_template(template, len(names), "environment variable name")
        self._template = template
        self._secrets = ("",) * len(names)
        self.names: tuple[str, ...] = tuple(names)

    def reveal(self) -> str:
        missing = [n for n in self.names if n not in os.environ]
        if missing:
            raise LookupError(
                f"environment variable{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} not set in this process (needed by "
                f"Redacted.env({self._template!r}, ...))"
            )
        return self._template.format(*(os.environ[n] for n in self.names))

    def __repr__(self) -> str:
        names = ", ".join(repr(n) for n in self.names)
        return f"Redacted.env({self._template!r}, {names})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _EnvRedacted):
            return (self._template, self.names) == (other._template, other.names)
        return NotImplemented if not isinstance(other, Redacted) else False

    def __hash__(self) -> int:
        return hash(("Redacted.env", self._template, self.names))

    def __reduce__(self) -> Any:  # no secret inside: it may be pickled
        return (_EnvRedacted, (self._template, *self.names))

    def to_json(self) -> dict[str, Any]:
        """The JSON form that travels in a task message: template and names only."""
        return {"template": self._template, "env": list(self.names)}


class HeaderValueError(ValueError):
    """A request header value no HTTP header can carry; the message never shows the value.

    A token read from a file keeps its trailing newline (``"Bearer s3cr3t\\n"``), and
    http.client would refuse it with an error quoting the value -- the secret.  The
    transport checks every value first and names only the header and the problem.
    """

    def __init__(self, name: str, problem: str) -> None:
        self.header = name
        self.problem = problem
        super().__init__(f"header {name!r}: {problem}; the value is not shown")


def reveal_headers(headers: Any) -> tuple[dict[str, str], frozenset[str]]:
    """The headers to send (secrets revealed) and the lower-case names that were secret.

    Every value is checked before anything is sent: CR, LF, NUL or a character outside
    Latin-1 raise ``HeaderValueError`` (a ``ValueError``) naming the header, never the
    value (nor chaining an exception that would show it).
    """
    if not headers:
        return {}, frozenset()
    items = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, str] = {}
    secret: set[str] = set()
    for name, value in items:
        if isinstance(value, Redacted):
            secret.add(str(name).lower())
            text = value.reveal()
        elif isinstance(value, str):
            text = value
        elif isinstance(value, bytes | bytearray):
            text = bytes(value).decode("latin-1")
        else:
            raise TypeError(
                f"header {name!r} must be a str, bytes or Redacted value "
                f"(got {type(value).__name__})"
            )
        problem = _header_value_problem(text)
        if problem is not None:
            raise HeaderValueError(str(name), problem)
        out[name] = text
    return out, frozenset(secret)


def _header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as a header value (``None``: it can)."""
    if "\r" in value or "\n" in value:
        inner = value.rstrip("\r\n")
        if "\r" in inner or "\n" in inner:
            return "the value contains a line break (CR or LF), which would split the header"
        return "the value ends with a line break (CR or LF): strip it (e.g. token.strip())"
    if "\0" in value:
        return "a header value may not contain NUL"
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            return "the value has a character outside Latin-1 (encode it, e.g. as UTF-8 bytes)"
    return None


def url_credentials(url: str, headers: Any) -> tuple[str, Any]:
    """The URL without its userinfo, and the headers with the Basic auth it carried.

    ``http://user:pw@host/`` is sent as ``Authorization: Basic base64(user:pw)`` (the
    user name and password percent-decoded, then UTF-8), the way ``requests`` does, and
    the value is ``Redacted``: never shown, and dropped on a redirect to another host.
    An ``Authorization`` header given explicitly wins over the URL's credentials.  A URL
    without userinfo is returned as it is (``headers`` too).
    """
    if "@" not in url:
        return url, headers
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, headers  # the transport's own URL check reports it, masked
    if "@" not in parts.netloc:
        return url, headers
    userinfo, _, hostport = parts.netloc.rpartition("@")
    start = url.find("//") + 2
    if url[start : start + len(parts.netloc)] == parts.netloc:
        bare = url[:start] + hostport + url[start + len(parts.netloc) :]
    else:  # urlsplit dropped characters (tabs, newlines): rebuild from its parts
        bare = urlunsplit(parts._replace(netloc=hostport))
    user, _, password = userinfo.partition(":")
    user, password = unquote(user), unquote(password)
    if not user and not password:
        return bare, headers
    pairs = list(headers.items() if hasattr(headers, "items") else headers or ())
    if any(str(name).lower() == "authorization" for name, _ in pairs):
        return bare, headers
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return bare, [*pairs, ("Authorization", Redacted("Basic {}", token))]
