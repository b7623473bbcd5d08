"""Masking what is shown: query values and userinfo of URLs, in URLs, text and log records.

``Redacted`` (``_redact``) hides the secrets a caller marks; this module hides the ones
a URL carries without being marked -- ``?api_key=...``, ``//user:password@`` -- wherever
the library shows a URL: error texts, log lines, stored results, and urllib3's own DEBUG
lines (``install_log_filter``).  It needs nothing of ``Redacted``, so it stands apart and
every module that shows a URL imports it without the secret-handling code.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "CLIENT_LOGGERS",
    "URLLIB3_LOGGERS",
    "MaskQueryFilter",
    "install_log_filter",
    "mask_query",
    "mask_text",
    "mask_url",
]


def mask_query(query: str) -> str:
    """A query string with every value masked; keys are kept, a bare value is masked too.

    >>> mask_query("key=abc&page=2&flag&=x")
    'key=***&page=***&***&=***'
    """
    return "&".join(
        (piece.partition("=")[0] + "=***" if "=" in piece else "***") if piece else ""
        for piece in query.split("&")
    )


def mask_url(url: str) -> str:
    """The URL with every query value and all of its userinfo replaced by ``***``.

    The whole userinfo is masked, user name included: API keys are often sent as the user
    name (``https://sk_live_...:@api.stripe.com``, ``https://TOKEN@host``).  The fragment
    is dropped.

    >>> mask_url("https://u:pw@api.example/v1?key=abc&page=2#frag")
    'https://***@api.example/v1?key=***&page=***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = mask_query(parts.query) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


# A query in free text: from "?" to a space, a quote, an angle bracket or a fragment.
_QUERY_IN_TEXT = re.compile(r"\?([^\s\"'<>#]+)")
# The userinfo of a URL in free text: "//user:password@" or "//token@" (up to the last '@'
# before the host's end).
_USERINFO_IN_TEXT = re.compile(r"//[^/\s\"'<>?#]*@")


def mask_text(text: str) -> str:
    """Free text (a log message) with the query values and userinfo of its URLs masked.

    >>> mask_text('http://h:80 "GET /a?api_key=s3cr3t&n=1 HTTP/1.1" 200 2')
    'http://h:80 "GET /a?api_key=***&n=*** HTTP/1.1" 200 2'
    """
    if "?" in text:
        text = _QUERY_IN_TEXT.sub(lambda m: "?" + mask_query(m.group(1)), text)
    if "@" in text:
        text = _USERINFO_IN_TEXT.sub("//***@", text)
    return text


class MaskQueryFilter(logging.Filter):
    """A logging filter that masks query values and URL userinfo in a record's message.

    The message is formatted (``getMessage()``) and, when masking changes it, stored
    back as the record's ``msg`` with no ``args``: every handler then sees the masked
    text.  It never drops a record.  Records are only built for enabled levels, so the
    filter costs nothing while DEBUG is off.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's error report
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


#: urllib3's loggers whose records can carry a URL (request targets, redirects, retries).
URLLIB3_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "urllib3.http2.connection",
)


#: The other clients' loggers that print a request's URL: httpx and httpx2 log each
#: request at INFO (``HTTP Request: GET https://user:pass@host/?api_key=...``); aiohttp's
#: client logger.  A filter on a logger costs nothing and imports nothing.
CLIENT_LOGGERS = ("httpx", "httpx2", "aiohttp.client")


def install_log_filter() -> None:
    """Put a ``MaskQueryFilter`` on each of urllib3's loggers and on httpx's, httpx2's and
    aiohttp's client loggers (``CLIENT_LOGGERS``; once; calling again is a no-op).

    A logger's filters see only the records logged on that logger (not those of its
    children), hence one filter per module logger rather than one on ``urllib3``.
    """
    for name in URLLIB3_LOGGERS + CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskQueryFilter) for f in logger.filters):
            logger.addFilter(MaskQueryFilter())
