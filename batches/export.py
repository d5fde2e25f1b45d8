"""Streaming a batch's URLs as CSV or JSON Lines in constant memory (command and download alike)."""

import csv
import io
import json

from .history import source_queryset, url_sources
from .models import Domain

COLUMNS = ("domain", "sitemap_url", "loc", "lastmod", "changefreq", "priority")
PAGE_SIZE = 5000


def iter_url_rows(batch_id):
    """Yield one tuple per stored URL, domain by domain, keyset-paginated (no OFFSET scans)."""
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
            .values_list("pk", "sitemap__url", "loc", "lastmod", "changefreq", "priority")[:PAGE_SIZE]
        )
        for pk, sitemap_url, loc, lastmod, changefreq, priority in page:
            yield (host, sitemap_url or "", loc, lastmod.isoformat() if lastmod else "", changefreq,
                   "" if priority is None else f"{priority:g}")
        if len(page) < PAGE_SIZE:
            break
        last_id = page[-1][0]


def csv_lines(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield _take(buffer)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield _take(buffer)
    yield _take(buffer)


def jsonl_lines(rows):
    buffer = io.StringIO()
    for row in rows:
        record = dict(zip(COLUMNS, row))
        record["lastmod"] = record["lastmod"] or None
        record["priority"] = float(record["priority"]) if record["priority"] else None
        buffer.write(json.dumps(record, ensure_ascii=False))
        buffer.write("\n")
        if buffer.tell() > 64 * 1024:
            yield _take(buffer)
    yield _take(buffer)


def _take(buffer):
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


FORMATS = {"csv": csv_lines, "jsonl": jsonl_lines}
