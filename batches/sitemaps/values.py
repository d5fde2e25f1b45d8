"""Field values as sitemaps write them, normalized: W3C datetimes, priorities, change frequencies."""

import re
from datetime import datetime, timedelta, timezone

# W3C datetime (and the near misses real generators write): a date, optionally a time with or
# without seconds and fractions, optionally a zone (Z, +hh:mm, +hhmm, +hh), "T" or a space.
_W3C = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$",
    re.IGNORECASE,
)
CHANGEFREQS = {"always", "hourly", "daily", "weekly", "monthly", "yearly", "never"}


def parse_lastmod(text):
    """A timezone-aware datetime (UTC when no zone is given), or None when unparseable."""
    if not text:
        return None
    match = _W3C.match(text.strip())
    if not match:
        return _parse_rfc822(text.strip())
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
    # RSS feeds used as sitemaps date their items the e-mail way
    from email.utils import parsedate_to_datetime

    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_priority(text):
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def parse_changefreq(text):
    value = (text or "").strip().lower()
    return value if value in CHANGEFREQS else ""
