"""URL identity: two spellings of one URL compare equal through `normal_form`.

`url_key(loc)` is a 64-bit signed integer of the normal form: what the URL table's uniqueness
and the worker's de-duplication use, so one page is stored once whatever spelling came first.
(First version: scheme and host case and the default port; issue 10 completes RFC 3986 6.2.2.)
"""

import hashlib
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normal_form(url):
    """The RFC 3986 section 6.2.2 normal form of an absolute http(s) URL (the URL as given
    when it cannot be split)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port is not None else None
    netloc = host if port is None or str(port) == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def url_key(url):
    """A signed 64-bit integer identifying the URL's normal form (for a BIGINT column)."""
    digest = hashlib.blake2b(normal_form(url).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
