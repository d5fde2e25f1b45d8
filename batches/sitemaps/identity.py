"""URL identity: two spellings of one URL compare equal through `normal_form`.

`url_key(loc)` is a 64-bit signed integer of the normal form: what the URL table's uniqueness
and the worker's de-duplication use, so one page is stored once whatever spelling came first.

The normal form is RFC 3986 section 6.2.2 (syntax-based normalization) plus the scheme-based
default port and empty path of 6.2.3, with IRIs mapped to URIs as RFC 3987 section 3.1 says
(a Unicode host becomes its IDNA A-label, other non-ASCII characters become percent-encoded
UTF-8). Only spellings every server must treat alike are merged: reserved characters stay
encoded or not as written (`%2F` is not `/`), the query keeps its order and its `+`, a trailing
slash and an empty query (`?`) are kept, and the fragment, never sent to a server, is dropped.
"""

import hashlib
import re
import struct

import idna

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# RFC 3986 appendix B, with the delimiters kept so "?" with an empty query survives.
_SPLIT = re.compile(r"([^:/?#]+):(?://([^/?#]*))?([^?#]*)(\?[^#]*)?")
# Already normal: http(s), a lower-case ASCII host without user, a port only when it is not
# the scheme's default (and has no leading zero), a path, no escapes, no fragment. Nearly every
# sitemap URL is like this; the "/." test below catches dot segments. The default ports are
# refused inside the pattern ("80" not followed by a digit), so one match decides.
_HOST = r"[a-z0-9.\-]+"
_PORT = r"[1-9][0-9]{0,4}"
_ALREADY_NORMAL = re.compile(
    rf"(?:http://{_HOST}(?::(?!80(?![0-9])){_PORT})?|https://{_HOST}(?::(?!443(?![0-9])){_PORT})?)"
    r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*"
)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Characters RFC 3986 does not allow in a URI: escaped (RFC 3987 3.1, and what HTTP clients send).
_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%\[\]]")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_CACHE_SIZE = 1024
# A copy of an empty 8-byte blake2b costs a third less than a new one (its keyword arguments)
_EMPTY_DIGEST = hashlib.blake2b(digest_size=8)
_signed_64 = struct.Struct(">q").unpack
_authority_cache = {}


def normal_form(url):
    """The normal form of an absolute URL (the URL as given, less its fragment, when it cannot
    be split)."""
    if _ALREADY_NORMAL.fullmatch(url) and "/." not in url:
        return url
    match = _SPLIT.match(url)
    if match is None or match.end() != len(url.partition("#")[0]):
        return url.partition("#")[0]
    scheme, authority, path, query = match.groups()
    scheme = scheme.lower()
    if authority is None:
        return f"{scheme}:{_normal_escapes(path)}{_normal_escapes(query or '')}"
    path = _remove_dot_segments(_normal_escapes(path)) or "/"
    return f"{scheme}://{_authority(scheme, authority)}{path}{_normal_escapes(query or '')}"


def url_key(url):
    """A signed 64-bit integer identifying the URL's normal form (for a BIGINT column)."""
    # Called once per URL stored: the already-normal test is inlined (an ASCII URL then), and
    # struct unpacks the digest for less than int.from_bytes costs.
    if _ALREADY_NORMAL.fullmatch(url) and "/." not in url:
        data = url.encode("ascii")
    else:
        data = normal_form(url).encode("utf-8", "surrogatepass")
    digest = _EMPTY_DIGEST.copy()
    digest.update(data)
    return _signed_64(digest.digest())[0]


def _authority(scheme, authority):
    # One sitemap holds thousands of URLs on one or two hosts: remember each host's answer.
    key = scheme + "://" + authority
    normal = _authority_cache.get(key)
    if normal is None:
        normal = _normal_authority(scheme, authority)
        if len(_authority_cache) >= _CACHE_SIZE:
            _authority_cache.clear()
        _authority_cache[key] = normal
    return normal


def _normal_authority(scheme, authority):
    userinfo, at, hostport = authority.rpartition("@")
    host, port = _split_port(hostport)
    if port is not None:
        port = port.lstrip("0") or "0" if port.isdigit() else port
        if port in ("", _DEFAULT_PORTS.get(scheme)):
            port = None
    host = _normal_host(host)
    return (_normal_escapes(userinfo) + at if at else "") + host + (f":{port}" if port is not None else "")


def _split_port(hostport):
    if hostport.startswith("["):  # an IPv6 literal: its colons are not a port
        literal, _, rest = hostport.partition("]")
        return literal + "]", rest[1:] if rest.startswith(":") else None
    host, colon, port = hostport.rpartition(":")
    return (host, port) if colon else (hostport, None)


def _normal_host(host):
    if "%" in host:
        host = _decoded_host(host)
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError:
        return host.lower()  # not a valid IDN: compare it as written, never merge it with another


def _decoded_host(host):
    try:
        decoded = _unescape_bytes(host).decode("utf-8")
    except UnicodeDecodeError:
        return _normal_escapes(host)
    return decoded if decoded.isprintable() and not any(c in decoded for c in "/?#@:[]% ") else _normal_escapes(host)


def _unescape_bytes(text):
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += text[pos:match.start()].encode("utf-8")
        out.append(int(match.group(1), 16))
        pos = match.end()
    out += text[pos:].encode("utf-8")
    return bytes(out)


def _normal_escapes(text):
    """Escapes in upper case, escaped unreserved characters decoded, characters a URI may not
    hold (non-ASCII as UTF-8, spaces, quotes, braces...) escaped."""
    if "%" in text:
        first, *pieces = text.split("%")
        text = first + "".join(_escaped(piece) for piece in pieces)
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_escape_character, text)


def _escaped(piece):
    # `piece` followed a "%": its first two characters are the escape, if they are hex digits
    normal = _ESCAPES.get(piece[:2])
    return "%" + piece if normal is None else normal + piece[2:]


def _escape_table():
    table = {}
    for byte in range(256):
        upper, lower = f"{byte:02X}", f"{byte:02x}"
        for spelling in {upper, lower, upper[0] + lower[1], lower[0] + upper[1]}:
            table[spelling] = chr(byte) if chr(byte) in _UNRESERVED else "%" + upper
    return table


_ESCAPES = _escape_table()  # "2f", "2F" -> "%2F"; "7e" -> "~"


def _escape_character(match):
    return "".join(f"%{byte:02X}" for byte in match.group(0).encode("utf-8", "surrogatepass"))


def _remove_dot_segments(path):
    """RFC 3986 section 5.2.4."""
    if "." not in path:
        return path
    segments = path.split("/")
    if not any(segment in (".", "..") for segment in segments):
        return path
    output = []
    for segment in segments[1:] if path.startswith("/") else segments:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if segments[-1] in (".", ".."):
        output.append("")  # "/a/b/.." is "/a/", a directory
    return ("/" if path.startswith("/") else "") + "/".join(output)
