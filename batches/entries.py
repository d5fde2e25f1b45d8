"""Turning pasted lines into domain entries: one origin per line, every rejected line explained.

Plain Python (no Django), shared by the web form, the API and `import_domains`.
"""

import csv
import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_LINE_LENGTH = 2048
# Refused lines kept for display (the web form, the API); `invalid_count` counts them all, so a
# post of two million bad lines costs a counter, not two million objects and a 100 MB page.
INVALID_KEPT = 100
# A CSV's first row whose first cell is one of these names the column: a header, not an entry.
CSV_HEADER_NAMES = {"domain", "domains", "host", "hosts", "hostname", "url", "urls", "website", "websites",
                    "site", "sites", "origin", "entry", "name"}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IDEOGRAPHIC_DOTS = re.compile("[\u3002\uff0e\uff61]")  # label separators IDNA accepts besides "."
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# Most lines of a big import are plain lower-case ASCII host names: recognising them with one
# regular expression is ten times faster than the general path (URL split, IDNA, per-label checks).
_PLAIN_HOST = re.compile(r"(?:(?!-)(?!xn--)[a-z0-9-]{1,63}(?<!-)\.)+(?!xn--)[a-z][a-z0-9-]{0,62}(?<!-)")


@dataclass(frozen=True)
class Entry:
    line_number: int
    text: str
    scheme: str  # "" when the line had none: the worker tries https, then http
    host: str  # lower-case, punycode, with ":port" when one was given

    @property
    def url(self):
        return f"{self.scheme or 'https'}://{self.host}/"


@dataclass(frozen=True)
class InvalidLine:
    line_number: int
    text: str
    reason: str

    def __str__(self):
        return f"line {self.line_number}: {self.reason}: {self.text[:200]!r}"


@dataclass
class ParsedEntries:
    entries: list = field(default_factory=list)
    invalid: list = field(default_factory=list)  # the first INVALID_KEPT of them
    invalid_count: int = 0
    duplicates: int = 0
    seen: set = field(default_factory=set)

    def add_line(self, line_number, raw):
        result = parse_line(line_number, raw)
        if result is None:
            return
        if isinstance(result, InvalidLine):
            self.invalid_count += 1
            if len(self.invalid) < INVALID_KEPT:
                self.invalid.append(result)
        elif result.host in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(result.host)
            self.entries.append(result)


def parse_lines(lines, first_line_number=1):
    """Parse an iterable of lines into entries, invalid lines and a duplicate count."""
    parsed = ParsedEntries()
    for number, raw in enumerate(lines, start=first_line_number):
        parsed.add_line(number, raw)
    return parsed


def parse_text(text):
    return parse_lines(text.splitlines())


def bounded_lines(stream, limit=MAX_LINE_LENGTH + 2):
    """The lines of a text stream, each cut to `limit` characters.

    The rest of a longer line is read and dropped in pieces, so a 1 GB line never sits in memory
    whole; what is kept is still longer than MAX_LINE_LENGTH, and parse_line refuses it as such.
    """
    while True:
        line = stream.readline(limit)
        if not line:
            return
        if len(line) == limit and not line.endswith("\n"):
            while (rest := stream.readline(limit)) and not rest.endswith("\n"):
                pass
        yield line


class CsvFirstColumn:
    """The first cell of each line of a CSV file; a first row naming its column is its `header`.

    Each line is read on its own (a domain list has no quoted newlines), so one line's oversized
    or malformed field is that line's problem, never an error for the whole file.
    """

    def __init__(self):
        self.header = None  # (line number, text) once a header row was recognised
        self._started = False

    def cell(self, line_number, line):
        text = _first_cell(line)
        if not self._started and text.strip():
            self._started = True
            if text.strip().lstrip("\ufeff").lower() in CSV_HEADER_NAMES:
                self.header = (line_number, text.strip().lstrip("\ufeff"))
                return ""
        return text


def _first_cell(line):
    if len(line) > MAX_LINE_LENGTH:
        return line  # refused by length; never handed to the csv module (its field limit is 128 KB)
    try:
        row = next(csv.reader([line]), [])
    except csv.Error:
        return line.split(",", 1)[0]
    return row[0] if row else ""


def parse_line(line_number, raw):
    """Return an Entry, an InvalidLine, or None for a blank line or a comment."""
    text = raw.strip().lstrip("\ufeff").strip()
    if not text or text.startswith("#"):
        return None
    if len(text) <= 253 and _PLAIN_HOST.fullmatch(text):
        return Entry(line_number, text, "", text)
    if len(text) > MAX_LINE_LENGTH:
        return InvalidLine(line_number, text, f"longer than {MAX_LINE_LENGTH} characters")
    try:
        scheme, host = _split_origin(text)
    except ValueError as exc:
        return InvalidLine(line_number, text, str(exc))
    return Entry(line_number, text, scheme, host)


def _split_origin(text):
    if any(ch.isspace() for ch in text):
        raise ValueError("contains white space")
    has_scheme = bool(_SCHEME.match(text))
    if not has_scheme and ":" in text and _ip_literal(text):
        return "", _ip_literal(text)  # a bare IPv6 address such as ::1, whose colons are not a port
    parts = urlsplit(text if has_scheme else "//" + text)
    scheme = parts.scheme.lower()
    if has_scheme and scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {scheme!r} (only http and https)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in a URL are not accepted")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("invalid port") from None
    host = normalize_host(parts.hostname or "")
    if port is not None and port == {"http": 80, "https": 443}.get(scheme):
        port = None
    return scheme, f"{host}:{port}" if port is not None else host


def normalize_host(hostname):
    """Lower-case, IDN to punycode, validated; IP literals kept (the worker's guard decides on them)."""
    hostname = hostname.strip().rstrip(".")
    if not hostname:
        raise ValueError("no host name")
    literal = _ip_literal(hostname)
    if literal:
        return literal
    labels = [_ascii_label(label) for label in _IDEOGRAPHIC_DOTS.sub(".", hostname.lower()).split(".")]
    ascii_host = ".".join(labels)
    if len(ascii_host) > 253:
        raise ValueError("not a valid host name (longer than 253 characters)")
    if len(labels) < 2 and ascii_host != "localhost":
        raise ValueError("not a valid host name (no dot)")
    if labels[-1].isdigit():
        raise ValueError("not a valid host name (numeric top-level label)")
    return ascii_host


def _ascii_label(label):
    """One label in ASCII (punycode for an international one), or a ValueError saying which rule it breaks."""
    if not label:
        raise ValueError("not a valid host name (empty label: two dots in a row)")
    if label.isascii():
        ascii_label = label
    else:
        try:
            ascii_label = label.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not a valid international domain name (label {label[:70]!r} cannot be encoded)") from None
    if len(ascii_label) > 63:
        raise ValueError(f"not a valid host name (label of {len(ascii_label)} characters; at most 63)")
    if not _LABEL.match(ascii_label):
        raise ValueError("not a valid host name")
    return ascii_label


def _ip_literal(hostname):
    candidate = hostname.strip("[]")
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    return f"[{address.compressed}]" if address.version == 6 else address.compressed
