"""URL identity: two spellings of one URL compare equal through `normal_form`.

`url_key(loc)` is a 64-bit signed integer of the normal form: what the URL table's uniqueness
and the worker's de-duplication use, so one page is stored once whatever spelling came first.
(First version: scheme and host case and the default port; issue 10 completes RFC 3986 6.2.2.)
"""

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Most locs are already in normal form: lower-case scheme and host, no default port, nothing
# percent-encoded, no dot segment (no segment starts with "."), no empty query or fragment.
# Recognising that costs a match, not a split and a join (a fifth of the time, and the store
# keys every URL: bench/store_schema.py prints the cost).
_ALREADY_NORMAL = re.compile(
    r"(https?)://(?!xn--)[a-z0-9-]+(?:\.(?!xn--)[a-z0-9-]+)*(?::([1-9][0-9]{0,4}))?"
    r"(?:/(?!\.)[A-Za-z0-9\-._~!$&'()*+,;=:@]*)+(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]+)?"
)


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
    plain = _ALREADY_NORMAL.fullmatch(url)
    text = url if plain and plain[2] != _DEFAULT_PORTS[plain[1]] else normal_form(url)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
