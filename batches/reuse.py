"""The worker's side of a re-run: what the previous run knew of a domain's sitemaps, handed to
the engine as CrawlConfig.previous, and the sitemaps the engine reports unchanged reused.

Used by the worker (worker.py) only: it imports the engine.
"""

from dataclasses import replace

from django.conf import settings

from . import changes, history
from .models import Batch, Domain, DomainStatus, SitemapFile, SitemapKind
from .sitemaps import PreviousSitemap
from .sitemaps.identity import normal_form
from .store import recount_months

# Only sitemaps that listed URLs are worth reusing; an index is always read again, since its
# children are what the crawl needs from it.
REUSABLE_KINDS = (SitemapKind.URLSET, SitemapKind.TEXT, SitemapKind.RSS, SitemapKind.ATOM)
_COPIED = ("kind", "content_type", "compressed", "bytes", "url_count", "generator", "etag", "last_modified")


class PreviousRun:
    """The same host's sitemaps in the batch's previous batch (empty for a first run)."""

    def __init__(self, domain):
        self.domain_id = previous_domain_id(domain)
        self.rows = {}
        if self.domain_id is None:
            return
        rows = SitemapFile.objects.filter(domain_id=self.domain_id, kind__in=REUSABLE_KINDS, error="").values(
            "pk", "url", "lastmod", "reused_from_id", *_COPIED)
        for row in rows:
            self.rows[normal_form(row["url"])] = row

    def crawl_config(self, config):
        previous = {key: PreviousSitemap(row["etag"], row["last_modified"], row["lastmod"])
                    for key, row in self.rows.items()}
        return replace(config, previous=previous, trust_index_lastmod=settings.SITEMAPS_TRUST_INDEX_LASTMOD)

    def reuse(self, sitemap_id, url, event):
        """Point the new sitemap row at the rows the previous run stored; False if unknown."""
        row = self.rows.get(normal_form(url))
        if row is None:
            return False
        fields = {name: row[name] for name in _COPIED}
        fields["etag"] = event.etag or row["etag"]
        fields["last_modified"] = event.last_modified or row["last_modified"]
        SitemapFile.objects.filter(pk=sitemap_id).update(
            reused_from_id=row["reused_from_id"] or row["pk"], http_status=event.http_status,
            response_ms=event.response_ms, **fields)
        return True


def previous_domain_id(domain):
    if hasattr(domain, "batch_previous_id"):  # set by Domain.objects.claim
        previous_batch = domain.batch_previous_id
    else:
        previous_batch = Batch.all_objects.filter(pk=domain.batch_id).values_list("previous_id", flat=True).first()
    if previous_batch is None:
        return None
    return Domain.objects.filter(batch_id=previous_batch, host=domain.host).values_list("pk", flat=True).first()


def finish_counts(domain, previous, status):
    """The counters a domain ends with (for Domain.objects.finish): its URLs (reused ones
    included) and, against the previous run, what changed. Its own rows that repeat a reused
    page are dropped first, and with reused sitemaps the lastmod histogram is counted again
    over every row the domain reads (a scan of the reused rows, only on such a re-run)."""
    history.drop_reused_duplicates(domain.pk)
    if history.reused_sources(domain.pk):
        recount_months(domain.pk, history.urls_of(domain.pk))
    counts = {
        "urls_count": history.count_urls(domain.pk),
        "sitemaps_unchanged": SitemapFile.objects.filter(domain_id=domain.pk, reused_from__isnull=False).count(),
        "urls_added": 0, "urls_removed": 0, "urls_modified": 0,
    }
    if previous.domain_id is not None and status != DomainStatus.CANCELLED:
        added, removed, modified = changes.count_domain_changes(previous.domain_id, domain.pk)
        counts.update(urls_added=added, urls_removed=removed, urls_modified=modified)
    return counts
