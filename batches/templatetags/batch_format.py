"""Small formatting filters for the pages: durations people can read at a glance."""

from django import template

register = template.Library()


@register.filter
def duration(value):
    """A timedelta as "4.2 s", "3 min 05 s" or "2 h 10 min"; a dash when there is none."""
    if value is None:
        return "–"
    seconds = value.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def unicode_host(host):
    """A punycode host ("xn--bcher-kva.de:8443") as people read it ("bücher.de:8443"); others as they are."""
    if "xn--" not in (host or ""):
        return host
    name, colon, port = host.partition(":")
    try:
        return name.encode("ascii").decode("idna") + colon + port
    except UnicodeError:
        return host
