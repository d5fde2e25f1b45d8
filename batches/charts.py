"""How fresh a domain's content is: URLs by lastmod month, drawn as a server-rendered SVG."""

from dataclasses import dataclass
from datetime import date

from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.db.models.functions import Substr, TruncMonth
from django.utils.html import escape

from .models import Url

WIDTH, HEIGHT = 760, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 18, 30
MAX_MONTH_BARS = 72  # beyond six years a bar per month is too thin to read: draw years
CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Bucket:
    start: date
    label: str
    count: int


def lastmod_months(domain):
    """{first day of month: URL count} for a domain, cached while the domain's rows stay the same.

    This is the one aggregate over a domain's URL rows, so the domain page loads it as a
    separate image and the result is kept until the domain changes (a rerun moves its counters).
    """
    finished = int(domain.finished_at.timestamp()) if domain.finished_at else 0
    key = f"lastmod-months:{domain.pk}:{domain.urls_count}:{domain.status}:{finished}"
    months = cache.get(key)
    if months is None:
        rows = (
            Url.objects.filter(domain_id=domain.pk, lastmod__isnull=False)
            .annotate(month=_month_expression()).order_by().values_list("month").annotate(n=Count("pk"))
        )
        months = {_first_day(month): n for month, n in rows}
        cache.set(key, months, CACHE_SECONDS)
    return months


def _month_expression():
    if connection.vendor == "sqlite":
        # SQLite keeps datetimes as UTC text "YYYY-MM-DD HH:MM:SS"; cutting the text is ten times
        # faster than TruncMonth, which calls back into Python for every row (months are UTC here).
        return Substr("lastmod", 1, 7)
    return TruncMonth("lastmod")


def _first_day(month):
    if isinstance(month, str):
        return date(int(month[:4]), int(month[5:7]), 1)
    return month.date()


def buckets(months):
    """Consecutive buckets from the first month to the last, gaps included, by year when long."""
    if not months:
        return []
    first, last = min(months), max(months)
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    if span > MAX_MONTH_BARS:
        years = {}
        for month, count in months.items():
            years[month.year] = years.get(month.year, 0) + count
        return [Bucket(date(y, 1, 1), str(y), years.get(y, 0)) for y in range(first.year, last.year + 1)]
    result = []
    year, month = first.year, first.month
    for _ in range(span):
        start = date(year, month, 1)
        result.append(Bucket(start, start.strftime("%b %Y"), months.get(start, 0)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return result


def render_svg(bars, undated=0):
    """An SVG bar chart; each bar has a <title> so hovering shows its month and count."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" font-family="system-ui, sans-serif" font-size="11" role="img">',
        "<title>URLs by lastmod month</title>",
    ]
    if not bars:
        message = "No URL gives a lastmod date" if undated else "No URL stored yet"
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#667085">{message}</text>')
        return "".join(parts) + "</svg>"
    top = max(bar.count for bar in bars) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(bars)
    gap = min(2.0, step * 0.2)
    parts.append(_axis(top, plot_w, plot_h))
    if undated:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{TOP - 3}" text-anchor="end" fill="#667085">'
                     f"+ {undated:,} URLs without lastmod</text>")
    label_every = max(1, round(len(bars) / 8))
    for i, bar in enumerate(bars):
        height = plot_h * bar.count / top
        x = LEFT + i * step
        parts.append(
            f'<rect x="{x + gap / 2:.1f}" y="{TOP + plot_h - height:.1f}" width="{step - gap:.1f}" '
            f'height="{height:.1f}" fill="#2f6fed" rx="1"><title>{escape(bar.label)}: {bar.count:,} URLs</title></rect>'
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" fill="#667085">'
                f"{escape(bar.label)}</text>"
            )
    return "".join(parts) + "</svg>"


def _axis(top, plot_w, plot_h):
    baseline = TOP + plot_h
    return (
        f'<line x1="{LEFT}" y1="{baseline}" x2="{LEFT + plot_w}" y2="{baseline}" stroke="#d0d5dd"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT + plot_w}" y2="{TOP}" stroke="#eaecf0" stroke-dasharray="3 3"/>'
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" fill="#667085">{top:,}</text>'
        f'<text x="{LEFT - 6}" y="{baseline + 4}" text-anchor="end" fill="#667085">0</text>'
    )
