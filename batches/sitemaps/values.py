"""Field values as sitemaps write them, normalized: W3C datetimes, priorities, change frequencies."""

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from .records import SkipReason

# W3C datetime (and the near misses real generators write): a year, a month, a date, optionally
# a time with or without seconds and fractions, optionally a zone (Z, +hh:mm, +hhmm, +hh), "T" or
# a space between date and time.
_W3C = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$",
    re.IGNORECASE,
)
MAX_LOC_LENGTH = 2048  # the protocol's limit, and the column's
MAX_FIELD_LENGTH = 256  # lastmod, changefreq, priority: anything longer is not a value
SPACE = " \t\n\r\f\v"  # XML's white space and the two other ASCII ones
# Trimmed around a loc as well: Unicode's space separators (a CMS's trailing &nbsp;, an
# ideographic space), which ultimate-sitemap-parser, Scrapy and advertools trim too (str.strip).
# Not the control characters str.strip also takes (\x1c-\x1f, \x85): a control character
# costs its entry, never a silently shorter URL.
LOC_SPACE = SPACE + "\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
CHANGEFREQS = {"always", "hourly", "daily", "weekly", "monthly", "yearly", "never"}
_CACHE_SIZE = 4096
_lastmod_cache = {}


def parse_lastmod(text):
    """A timezone-aware datetime in UTC (UTC assumed when no zone is given), or None."""
    if not text:
        return None
    value = _lastmod_cache.get(text, False)
    if value is False:
        value = _parse_lastmod(text.strip())
        if len(_lastmod_cache) >= _CACHE_SIZE:
            _lastmod_cache.clear()  # many URLs of one sitemap share a date; a bounded memo pays
        _lastmod_cache[text] = value
    return value


def _parse_lastmod(text):
    # The C parser handles the common full forms; it also accepts ISO week dates and compact
    # forms that are not W3C, hence the "YYYY-MM-DD" guard before trusting it.
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        try:
            return _utc(datetime.fromisoformat(text))
        except ValueError:
            pass
    match = _W3C.match(text)
    if not match:
        return _parse_rfc822(text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        value = datetime(
            int(year), int(month or 1), int(day or 1),
            int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=_zone(zone),
        )
    except ValueError:
        return None
    return value.astimezone(timezone.utc)


def _utc(value):
    zone = value.tzinfo
    if zone is timezone.utc:
        return value
    if zone is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _zone(text):
    if not text or text.upper() == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("bad zone")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _parse_rfc822(text):
    # RSS feeds used as sitemaps date their items the e-mail way ("Tue, 10 Jun 2003 04:00:00 GMT")
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if value is None:
        return None
    try:
        return _utc(value)
    except (ValueError, OverflowError):
        return None


# The values nearly every sitemap uses, looked up instead of converted.
_PRIORITIES = {f"{tenth / 10:.1f}": tenth / 10 for tenth in range(11)}
_PRIORITIES.update({"0": 0.0, "1": 1.0})
_CHANGEFREQ_TEXT = {value: value for value in CHANGEFREQS}


def parse_priority(text):
    """0.0-1.0, or None for anything else (out of range, not a number, NaN)."""
    if text is None:  # most entries have none: float(None)'s TypeError costs more than the rest
        return None
    value = _PRIORITIES.get(text)
    if value is not None:
        return value
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value <= 1.0 else None


def parse_changefreq(text):
    value = _CHANGEFREQ_TEXT.get(text)
    if value is not None:
        return value
    value = (text or "").strip().lower()
    return value if value in CHANGEFREQS else ""


def clean_loc(text):
    """The loc as stored, or None when it is not an absolute http(s) URL we can keep."""
    return check_loc(text)[0]


def check_loc(text):
    """(loc, "") when the text is an absolute http(s) URL we can keep, else (None, SkipReason)."""
    if not text:
        return None, SkipReason.INVALID_LOC
    # White space around a URL is not part of it; inside it (a no-break space, a line break)
    # it makes one we cannot keep.
    loc = text.strip(LOC_SPACE)
    if len(loc) > MAX_LOC_LENGTH:
        return None, SkipReason.LOC_TOO_LONG
    scheme = loc[:8].lower()
    host_at = 8 if scheme == "https://" else 7 if scheme.startswith("http://") else 0
    if not host_at or len(loc) <= host_at or loc[host_at] in "/?#":
        return None, SkipReason.INVALID_LOC
    if " " in loc:
        loc = loc.replace(" ", "%20")  # browsers and crawlers send an unescaped space as %20
    # not printable: tabs, line breaks, other control and separator characters;
    # "\ufffd": bytes that were not valid in the declared encoding
    if not loc.isprintable() or "\ufffd" in loc:
        return None, SkipReason.INVALID_LOC
    return loc, ""
