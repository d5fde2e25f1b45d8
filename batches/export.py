"""Streaming a batch's URLs, domains or findings as CSV or JSON Lines in constant memory.

The commands (export_urls, export_domains, export_findings), the downloads on the batch page
and the API all go through `export_lines`. Rows are dicts of JSON values; CSV writes None as an
empty cell and an object (a URL's extras) as one JSON cell. The columns are a public contract:
add at the end, never rename or reorder.
"""

import csv
import io
import json

from .history import source_queryset, url_sources
from .models import Domain, Finding

COLUMNS = ("domain", "sitemap_url", "loc", "lastmod", "changefreq", "priority", "extras")
DOMAIN_COLUMNS = ("domain", "status", "origin", "sitemaps", "sitemaps_failed", "urls", "error_code", "error", "findings")
FINDING_COLUMNS = ("domain", "sitemap_url", "code", "count", "detail")
PAGE_SIZE = 5000


def iter_url_rows(batch_id):
    """Yield one dict per stored URL, domain by domain, keyset-paginated (no OFFSET scans)."""
    domains = Domain.objects.filter(batch_id=batch_id).order_by("position").values_list("pk", "host")
    for domain_id, host in domains.iterator(chunk_size=1000):
        for source in url_sources(domain_id):  # re-runs: reused sitemaps' rows live elsewhere
            yield from _source_rows(host, source_queryset(source))


def _source_rows(host, urls):
    last_id = 0
    while True:
        page = list(
            urls.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "sitemap__url", "loc", "lastmod", "changefreq", "priority", "extras")[:PAGE_SIZE]
        )
        for pk, sitemap_url, loc, lastmod, changefreq, priority, extras in page:
            yield {"domain": host, "sitemap_url": sitemap_url or "", "loc": loc,
                   "lastmod": lastmod.isoformat() if lastmod else None, "changefreq": changefreq,
                   "priority": priority, "extras": extras or None}
        if len(page) < PAGE_SIZE:
            break
        last_id = page[-1][0]


def iter_domain_rows(batch_id):
    """One dict per domain of the batch, in input order."""
    fields = ("host", "status", "origin", "sitemaps_count", "sitemaps_failed", "urls_count", "error_code",
              "error", "findings_count")
    rows = Domain.objects.filter(batch_id=batch_id).order_by("position").values_list(*fields)
    for row in rows.iterator(chunk_size=2000):
        yield dict(zip(DOMAIN_COLUMNS, row))


def iter_finding_rows(batch_id):
    """One dict per finding of the batch, domain by domain; `sitemap_url` is "" for the domain's own."""
    rows = (Finding.objects.filter(batch_id=batch_id).order_by("domain_id", "pk")
            .values_list("domain__host", "sitemap__url", "code", "count", "detail"))
    for host, sitemap_url, code, count, detail in rows.iterator(chunk_size=2000):
        yield {"domain": host, "sitemap_url": sitemap_url or "", "code": code, "count": count, "detail": detail}


def csv_lines(rows, columns=COLUMNS):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    yield _take(buffer)
    for row in rows:
        writer.writerow([_csv_cell(row[column]) for column in columns])
        if buffer.tell() > 64 * 1024:
            yield _take(buffer)
    yield _take(buffer)


def jsonl_lines(rows, columns=COLUMNS):
    buffer = io.StringIO()
    for row in rows:
        buffer.write(json.dumps(row, ensure_ascii=False))
        buffer.write("\n")
        if buffer.tell() > 64 * 1024:
            yield _take(buffer)
    yield _take(buffer)


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _take(buffer):
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


FORMATS = {"csv": csv_lines, "jsonl": jsonl_lines}
# what -> (columns, rows of a batch)
EXPORTS = {
    "urls": (COLUMNS, iter_url_rows),
    "domains": (DOMAIN_COLUMNS, iter_domain_rows),
    "findings": (FINDING_COLUMNS, iter_finding_rows),
}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def export_lines(what, fmt, batch_id):
    """The text of one export, in pieces of about 64 KiB."""
    columns, rows = EXPORTS[what]
    return FORMATS[fmt](rows(batch_id), columns)
