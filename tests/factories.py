"""Finished batches written straight to the database, for page tests that need no crawl."""

from datetime import datetime, timedelta, timezone

from batches.models import Batch, BatchStatus, Domain, DomainStatus, FoundBy, SitemapFile, SitemapKind
from batches.sitemaps import UrlRecord
from batches.store import insert_urls

T0 = datetime(2024, 1, 15, 12, 0, tzinfo=timezone.utc)


def make_batch(owner, name="Competitors", domains=3, urls_per_domain=5, failed=0, status=BatchStatus.COMPLETED):
    """A batch whose domains each have robots.txt -> index -> one urlset with `urls_per_domain` URLs.

    The last `failed` domains failed with no rows. URL i of a domain has lastmod T0 + i months.
    """
    batch = Batch.objects.create(owner=owner, name=name, status=status, started_at=T0,
                                 finished_at=T0 + timedelta(seconds=83), domains_total=domains)
    for position in range(1, domains + 1):
        host = f"site{position}.example.com"
        if position > domains - failed:
            Domain.objects.create(batch=batch, position=position, line_number=position, entry=host, host=host,
                                  status=DomainStatus.FAILED, error=f"https://{host}: connection refused",
                                  started_at=T0, finished_at=T0 + timedelta(seconds=2), attempts=1)
            continue
        add_domain(batch, position, host, urls_per_domain)
    batch.domains_failed = failed
    batch.domains_done = domains - failed
    batch.sitemaps_count = (domains - failed) * 2
    batch.urls_count = (domains - failed) * urls_per_domain
    batch.save()
    return batch


def add_domain(batch, position, host, urls):
    origin = f"https://{host}"
    domain = Domain.objects.create(
        batch=batch, position=position, line_number=position, entry=host, host=host, origin=origin,
        status=DomainStatus.DONE, started_at=T0, finished_at=T0 + timedelta(seconds=4.2), attempts=1,
        sitemaps_count=2, urls_count=urls,
    )
    index = SitemapFile.objects.create(domain=domain, url=f"{origin}/sitemap_index.xml", found_by=FoundBy.ROBOTS,
                                       kind=SitemapKind.INDEX, http_status=200, bytes=310, response_ms=12)
    urlset = SitemapFile.objects.create(domain=domain, parent=index, url=f"{origin}/posts.xml",
                                        found_by=FoundBy.INDEX, kind=SitemapKind.URLSET, http_status=200,
                                        bytes=100 * urls, response_ms=40, url_count=urls)
    # Through the store, as a worker writes them: keys and the lastmod histogram come along.
    insert_urls(domain.pk, urlset.pk, [
        UrlRecord(f"{origin}/post/{i}", month_after(T0, i), "weekly", 0.5) for i in range(urls)
    ])
    return domain


def month_after(start, months):
    year, month = divmod(start.month - 1 + months, 12)
    return start.replace(year=start.year + year, month=month + 1)
