"""What the sitemap audit costs per URL: observe() over in-memory chunks, no network, no database.

    .venv/bin/python bench/audit.py [URLS]

Prints URLs per second for the fast path (every loc in the sitemap's directory, dated in the
past) and for a worst case (every loc on another host, dated in the future).
"""

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batches.sitemaps.audit import SitemapAudit  # noqa: E402
from batches.sitemaps.records import CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk, UrlRecord  # noqa: E402

CHUNK = 10_000


def run(total, loc_of, lastmod):
    chunks = [[UrlRecord(loc_of(n), lastmod) for n in range(start, min(start + CHUNK, total))]
              for start in range(0, total, CHUNK)]
    audit = SitemapAudit("example.com")
    started = time.perf_counter()
    audit.observe(SitemapStarted(1, "https://example.com/sitemap.xml", None, "robots"))
    for urls in chunks:
        audit.observe(UrlChunk(1, urls))
    audit.observe(SitemapFinished(1, kind="urlset", http_status=200, url_count=total))
    audit.observe(CrawlFinished(origin="https://example.com", robots_status=200))
    findings = audit.findings()
    return total / (time.perf_counter() - started), findings


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    past, future = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc)
    rate, findings = run(total, lambda n: f"https://example.com/post/{n}", past)
    print(f"fast path:  {rate:,.0f} URLs/s ({len(findings)} findings)")
    rate, findings = run(total, lambda n: f"https://other.example.net/post/{n}", future)
    print(f"worst case: {rate:,.0f} URLs/s ({[(f.code, f.count) for f in findings]})")


if __name__ == "__main__":
    main()
