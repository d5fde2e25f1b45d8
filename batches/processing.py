"""Processing one domain in a worker: claim it, crawl it, store what the crawl streams, finish it.

Runs in the worker's own database connection. Every write is a short transaction of its own;
no transaction is open while the engine waits on the network.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import Batch, BatchStatus, Domain, DomainStatus, SitemapFile
from .sitemaps import CrawlConfig, CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk, crawl_domain
from .store import insert_urls

log = logging.getLogger(__name__)
CANCEL_CHECK_SECONDS = 1.0


def crawl_config():
    return CrawlConfig(
        user_agent=settings.SITEMAPS_USER_AGENT,
        allow_private_hosts=settings.SITEMAPS_ALLOW_PRIVATE_HOSTS,
        connect_timeout=settings.SITEMAPS_CONNECT_TIMEOUT,
        read_timeout=settings.SITEMAPS_READ_TIMEOUT,
        request_deadline=settings.SITEMAPS_REQUEST_DEADLINE,
        domain_deadline=settings.SITEMAPS_DOMAIN_DEADLINE,
        max_sitemap_bytes=settings.SITEMAPS_MAX_SITEMAP_BYTES,
        max_robots_bytes=settings.SITEMAPS_MAX_ROBOTS_BYTES,
        max_depth=settings.SITEMAPS_MAX_DEPTH,
        max_sitemaps=settings.SITEMAPS_MAX_SITEMAPS,
        max_urls=settings.SITEMAPS_MAX_URLS,
        max_redirects=settings.SITEMAPS_MAX_REDIRECTS,
        concurrency=settings.SITEMAPS_CONCURRENCY,
        retries=settings.SITEMAPS_RETRIES,
    )


def process_domain(domain_id):
    """Process one domain; a no-op when it is not claimable (done, running elsewhere, cancelled)."""
    domain = claim_domain(domain_id)
    if domain is None:
        return "not claimed"
    Batch.mark_started(domain.batch_id)
    writer = DomainWriter(domain)
    try:
        for event in crawl_domain(domain.host, crawl_config(), scheme=domain.scheme):
            writer.write(event)
            if writer.cancelled():
                writer.finish(DomainStatus.CANCELLED)
                break
    except Exception as exc:
        log.exception("domain %s failed unexpectedly", domain_id)
        writer.finish(DomainStatus.FAILED, error=f"internal error: {exc!r}"[:500])
    Batch.finish_if_complete(domain.batch_id)
    return writer.status


def claim_domain(domain_id):
    """Atomically take the domain for this worker, or return None.

    A conditional UPDATE is the claim: of two deliveries of the same task (the ORM broker
    delivers at least once) or two clusters, exactly one sees a row count of 1. A running
    domain whose heartbeat stopped (its worker was killed) may be claimed again.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.SITEMAPS_STALE_AFTER)
    claimable = Q(status=DomainStatus.QUEUED) | Q(status=DomainStatus.RUNNING, heartbeat_at__lt=stale)
    with transaction.atomic():
        claimed = Domain.objects.filter(
            claimable, pk=domain_id, batch__status__in=(BatchStatus.PENDING, BatchStatus.RUNNING)
        ).update(
            status=DomainStatus.RUNNING, attempts=F("attempts") + 1, started_at=now,
            heartbeat_at=now, finished_at=None, error="", notes="",
        )
        if not claimed:
            return None
        domain = Domain.objects.get(pk=domain_id)
        _forget_previous_run(domain)
    return domain


def _forget_previous_run(domain):
    # An earlier attempt may have stored part of the domain: start clean so one run's
    # rows and counters are all that remain (reprocessing is idempotent).
    if not (domain.sitemaps_count or domain.urls_count or domain.sitemaps.exists()):
        return
    Batch.objects.filter(pk=domain.batch_id).update(
        sitemaps_count=F("sitemaps_count") - domain.sitemaps_count,
        urls_count=F("urls_count") - domain.urls_count,
    )
    domain.urls.all().delete()
    domain.sitemaps.all().delete()
    Domain.objects.filter(pk=domain.pk).update(sitemaps_count=0, sitemaps_failed=0, urls_count=0, urls_skipped=0)
    domain.sitemaps_count = domain.sitemaps_failed = domain.urls_count = domain.urls_skipped = 0


class DomainWriter:
    """Turns engine events into rows and counters for one claimed domain."""

    def __init__(self, domain):
        self.domain = domain
        self.attempt = domain.attempts
        self.sitemap_ids = {}
        self.status = DomainStatus.RUNNING
        self._next_cancel_check = 0.0

    def write(self, event):
        if isinstance(event, UrlChunk):
            self._store_urls(event)
        elif isinstance(event, SitemapStarted):
            self._start_sitemap(event)
        elif isinstance(event, SitemapFinished):
            self._finish_sitemap(event)
        elif isinstance(event, CrawlFinished):
            self._finish_crawl(event)

    def cancelled(self):
        now = time.monotonic()
        if now < self._next_cancel_check:
            return False
        self._next_cancel_check = now + CANCEL_CHECK_SECONDS
        return Batch.objects.filter(pk=self.domain.batch_id, status=BatchStatus.CANCELLED).exists()

    def _mine(self):
        return Domain.objects.filter(pk=self.domain.pk, status=DomainStatus.RUNNING, attempts=self.attempt)

    def _start_sitemap(self, event):
        row = SitemapFile.objects.create(
            domain_id=self.domain.pk, parent_id=self.sitemap_ids.get(event.parent_key), url=event.url,
            found_by=event.found_by, lastmod=event.lastmod,
        )
        self.sitemap_ids[event.key] = row.pk

    def _store_urls(self, chunk):
        with transaction.atomic():
            new = insert_urls(self.domain.pk, self.sitemap_ids.get(chunk.sitemap_key), chunk.urls)
            self._mine().update(urls_count=F("urls_count") + new, heartbeat_at=timezone.now())
            Batch.objects.filter(pk=self.domain.batch_id).update(urls_count=F("urls_count") + new)

    def _finish_sitemap(self, event):
        failed = int(bool(event.error) and not event.url_count)
        with transaction.atomic():
            SitemapFile.objects.filter(pk=self.sitemap_ids.get(event.key)).update(
                kind=event.kind, http_status=event.http_status, content_type=event.content_type[:200],
                compressed=event.compressed, bytes=event.bytes, response_ms=event.response_ms,
                url_count=event.url_count, generator=event.generator, error=event.error,
                fetched_at=timezone.now(),
            )
            self._mine().update(
                sitemaps_count=F("sitemaps_count") + 1, sitemaps_failed=F("sitemaps_failed") + failed,
                urls_skipped=F("urls_skipped") + event.skipped, heartbeat_at=timezone.now(),
            )
            Batch.objects.filter(pk=self.domain.batch_id).update(sitemaps_count=F("sitemaps_count") + 1)

    def _finish_crawl(self, event):
        status = DomainStatus.FAILED if event.error else DomainStatus.DONE
        self.finish(status, error=event.error, origin=event.origin, notes="; ".join(event.notes))

    def finish(self, status, error="", origin="", notes=""):
        """Record the domain's final status and count it on the batch, once per attempt."""
        counter = {
            DomainStatus.DONE: "domains_done",
            DomainStatus.FAILED: "domains_failed",
            DomainStatus.CANCELLED: "domains_cancelled",
        }[status]
        fields = {"status": status, "finished_at": timezone.now(), "error": error, "notes": notes}
        if origin:
            fields["origin"] = origin
        with transaction.atomic():
            if self._mine().update(**fields):
                Batch.objects.filter(pk=self.domain.batch_id).update(**{counter: F(counter) + 1})
        self.status = status
