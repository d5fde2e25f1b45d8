"""How fresh a domain's content is: URLs by lastmod month, drawn as a server-rendered SVG."""

from dataclasses import dataclass
from datetime import date

from django.utils.html import escape

from .models import LastmodMonth

WIDTH, HEIGHT = 760, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 18, 30
MAX_MONTH_BARS = 72  # beyond six years a bar per month is too thin to read: draw years


@dataclass(frozen=True)
class Bucket:
    start: date
    label: str
    count: int


def lastmod_months(domain):
    """{first day of month (UTC): URL count} for a domain, from the histogram the store keeps
    as it writes URLs: a few dozen rows to read whatever the domain holds, even while it runs."""
    return dict(LastmodMonth.objects.filter(domain_id=domain.pk).values_list("month", "urls"))


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
