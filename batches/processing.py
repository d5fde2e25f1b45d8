"""Processing one domain in a worker: claim it, crawl it, store what the crawl streams, finish it.

Runs in the worker's own database connection. Every write is a short transaction of its own,
retried while the database is briefly unreachable; no transaction is open while the engine
waits on the network. A heartbeat thread keeps the claim alive; the reaper (reaper.py) takes
the domain back when the heartbeat stops.
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import history, reuse
from .models import BATCH_ACTIVE, DOMAIN_COUNTERS, Batch, Domain, DomainStatus, SitemapFile, Url
from .politeness import host_gate
from .retention import delete_in_chunks
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
        retry_backoff=settings.SITEMAPS_RETRY_BACKOFF,
        max_retry_after=settings.SITEMAPS_MAX_RETRY_AFTER,
        max_home_page_bytes=settings.SITEMAPS_MAX_HOME_PAGE_BYTES,
        chunk_size=settings.SITEMAPS_CHUNK_SIZE,
        probe_well_known=settings.SITEMAPS_PROBE_WELL_KNOWN,
        allowed_addresses=settings.SITEMAPS_ALLOWED_ADDRESSES,
        parse_ahead=settings.SITEMAPS_PARSE_AHEAD,
        # Inside a caller's transaction (sync processing in a test) the gate's own connection
        # would wait on that transaction's locks: no gate there.
        host_gate=None if connection.in_atomic_block else host_gate(),
    )


def with_db_retry(function, *args):
    """Call `function`, retrying while the database is unreachable (restart, failover).

    Every write we retry is idempotent or conditional on the claim, so a commit whose
    outcome was lost is safe to repeat; the counters are recounted when the domain ends.
    """
    deadline = time.monotonic() + settings.SITEMAPS_DB_OUTAGE
    pause = 0.5
    while True:
        try:
            return function(*args)
        except IntegrityError:
            raise
        except DatabaseError:
            if connection.in_atomic_block or time.monotonic() > deadline:
                raise
            log.warning("database unreachable, retrying in %.1f s", pause, exc_info=True)
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def process_domain(domain_id, feed=True):
    """Process one domain; a no-op when it is not claimable (done, running elsewhere, cancelled).

    With `feed`, hand the batch's next domains to the task queue afterwards (services.feed_batch).
    """
    domain = with_db_retry(claim_domain, domain_id)
    if domain is None:
        return "not claimed"
    with_db_retry(Batch.mark_started, domain.batch_id)
    writer = DomainWriter(domain)
    with Heartbeat(domain):
        try:
            with_db_retry(forget_previous_run, domain)
            _crawl(domain, writer)
        except Exception as exc:
            log.exception("domain %s failed unexpectedly", domain_id)
            with_db_retry(writer.finish, DomainStatus.FAILED, f"internal error: {exc!r}"[:500])
    with_db_retry(Batch.finish_if_complete, domain.batch_id)
    if feed:
        from .services import feed_batch  # services imports tasks, which imports this module

        with_db_retry(feed_batch, domain.batch_id)
    return writer.status


def _crawl(domain, writer):
    config = writer.previous.crawl_config(crawl_config())  # re-runs: reuse.py
    crawl = crawl_domain(domain.host, config, scheme=domain.scheme)
    try:
        for event in crawl:
            with_db_retry(writer.write, event)
            if writer.lost:
                log.warning("domain %s was taken over by another worker; stopping", domain.pk)
                return
            if with_db_retry(writer.cancelled):
                with_db_retry(writer.finish, DomainStatus.CANCELLED)
                return
        if writer.status == DomainStatus.RUNNING:
            with_db_retry(writer.finish, DomainStatus.FAILED, "the crawl ended without a result")
    finally:
        crawl.close()
        if config.host_gate:
            config.host_gate.close()


def claim_domain(domain_id):
    """Atomically take the domain for this worker, or return None.

    A conditional UPDATE is the claim: of two deliveries of the same task (the ORM broker
    delivers at least once) or two clusters, exactly one sees a row count of 1. A running
    domain whose heartbeat stopped (its worker was killed) may be claimed again.
    """
    batch_id = Domain.objects.filter(pk=domain_id).values_list("batch_id", flat=True).first()
    if not Batch.objects.filter(pk=batch_id, status__in=BATCH_ACTIVE).exists():
        return None  # a batch cancelled after this check is noticed at the first chunk
    now = timezone.now()
    stale = Q(status=DomainStatus.RUNNING, heartbeat_at__lt=now - timedelta(seconds=settings.SITEMAPS_STALE_AFTER))
    # Conditions on the domain row only: PostgreSQL re-checks them on the row a concurrent
    # claim just wrote, so the loser of a race sees 0 rows.
    claimed = Domain.objects.filter(Q(status=DomainStatus.QUEUED) | stale, pk=domain_id).move_to(
        DomainStatus.RUNNING, attempts=F("attempts") + 1, started_at=now,
        heartbeat_at=now, finished_at=None, error="", notes="",
    )
    if not claimed:
        return None
    return Domain.objects.get(pk=domain_id)


def forget_previous_run(domain):
    """Remove what an earlier attempt stored, so one run's rows and counters are all that remain."""
    # Every URL row points to a sitemap row of its run, so no sitemap row means a clean slate.
    if not (domain.sitemaps_count or domain.urls_count or SitemapFile.objects.filter(domain_id=domain.pk).exists()):
        return
    if domain.sitemaps_count or domain.urls_count:
        with transaction.atomic():
            Batch.all_objects.filter(pk=domain.batch_id).update(
                sitemaps_count=F("sitemaps_count") - domain.sitemaps_count,
                urls_count=F("urls_count") - domain.urls_count,
            )
            Domain.objects.filter(pk=domain.pk).update(
                sitemaps_count=0, sitemaps_failed=0, urls_count=0, urls_skipped=0)
        domain.sitemaps_count = domain.sitemaps_failed = domain.urls_count = domain.urls_skipped = 0
    history.hand_over_reused([domain.pk])  # re-runs: a later batch may read these rows
    # In chunks: a domain of millions of URLs must not hold one long delete.
    delete_in_chunks(Url.objects.filter(domain_id=domain.pk))
    SitemapFile.objects.filter(domain_id=domain.pk).delete()


class Heartbeat:
    """A thread that stamps the claimed domain every SITEMAPS_HEARTBEAT seconds while it runs,
    so a long request is not mistaken for a dead worker; it also gives the reaper a chance."""

    def __init__(self, domain):
        self.domain = domain
        self.stopping = threading.Event()
        self.thread = None

    def __enter__(self):
        if not connection.in_atomic_block:  # its own connection could not see the row
            self.thread = threading.Thread(target=self._run, name=f"heartbeat-{self.domain.pk}", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        if self.thread:
            self.thread.join()

    def _run(self):
        from .reaper import reap_if_due

        try:
            while not self.stopping.wait(settings.SITEMAPS_HEARTBEAT):
                try:
                    Domain.objects.filter(
                        pk=self.domain.pk, status=DomainStatus.RUNNING, attempts=self.domain.attempts,
                    ).update(heartbeat_at=timezone.now())
                    reap_if_due()
                except DatabaseError:
                    connection.close()  # unreachable for now: the next beat tries again
        finally:
            connection.close()


class DomainWriter:
    """Turns engine events into rows and counters for one claimed domain."""

    def __init__(self, domain):
        self.domain = domain
        self.attempt = domain.attempts
        self.sitemap_ids = {}
        self.status = DomainStatus.RUNNING
        self.lost = False
        self._next_cancel_check = 0.0
        self.previous = reuse.PreviousRun(domain)

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
        if now < self._next_cancel_check or self.status != DomainStatus.RUNNING:
            return False
        self._next_cancel_check = now + CANCEL_CHECK_SECONDS
        return not Batch.objects.filter(pk=self.domain.batch_id, status__in=BATCH_ACTIVE).exists()

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
            if not self._mine().update(urls_count=F("urls_count") + new, heartbeat_at=timezone.now()):
                self.lost = True
                transaction.set_rollback(True)
                return
            Batch.all_objects.filter(pk=self.domain.batch_id).update(urls_count=F("urls_count") + new)

    def _finish_sitemap(self, event):
        # a damaged index that still listed children is not a failed sitemap
        failed = int(bool(event.error) and not event.url_count and event.kind != "index")
        with transaction.atomic():
            sitemap = SitemapFile.objects.filter(pk=self.sitemap_ids.get(event.key))
            sitemap.update(
                kind=event.kind, http_status=event.http_status, content_type=event.content_type[:200],
                compressed=event.compressed, bytes=event.bytes, response_ms=event.response_ms,
                url_count=event.url_count, generator=event.generator, error=event.error,
                fetched_at=timezone.now(), etag=event.etag, last_modified=event.last_modified,
            )
            if event.unchanged:  # re-runs: keep the previous run's rows (reuse.py)
                url = sitemap.values_list("url", flat=True).first()
                if not self.previous.reuse(self.sitemap_ids.get(event.key), url, event):
                    sitemap.update(error="unchanged, but the previous run has no rows for it")
            if not self._mine().update(
                sitemaps_count=F("sitemaps_count") + 1, sitemaps_failed=F("sitemaps_failed") + failed,
                urls_skipped=F("urls_skipped") + event.skipped, heartbeat_at=timezone.now(),
            ):
                self.lost = True
                transaction.set_rollback(True)
                return
            Batch.all_objects.filter(pk=self.domain.batch_id).update(sitemaps_count=F("sitemaps_count") + 1)

    def _finish_crawl(self, event):
        status = DomainStatus.FAILED if event.error else DomainStatus.DONE
        self.finish(status, error=event.error, origin=event.origin, notes="; ".join(event.notes))

    def finish(self, status, error="", origin="", notes=""):
        """Record the domain's final status and count it on the batch, once per attempt.

        The URL and sitemap counters are recounted from the rows here, so they are exact even
        when a commit's outcome was lost to a database outage and the write was repeated.
        """
        fields = {"finished_at": timezone.now(), "error": error, "notes": notes}
        if origin:
            fields["origin"] = origin
        # Re-runs (reuse.py): reused URLs counted, changes against the previous run; the
        # change queries can take seconds on a big domain, so outside the locking transaction.
        counts = reuse.finish_counts(self.domain, self.previous, status)
        with transaction.atomic():
            current = self._mine().select_for_update().first()
            if current is None:
                self.lost = True
                return
            urls = counts.pop("urls_count")
            sitemaps = SitemapFile.objects.filter(domain_id=self.domain.pk).count()
            self._mine().move_to(status, urls_count=urls, sitemaps_count=sitemaps, **counts, **fields)
            counter = DOMAIN_COUNTERS[status]
            Batch.all_objects.filter(pk=self.domain.batch_id).update(
                urls_count=F("urls_count") + (urls - current.urls_count),
                sitemaps_count=F("sitemaps_count") + (sitemaps - current.sitemaps_count),
                progressed_at=timezone.now(), **{counter: F(counter) + 1}, **reuse.batch_deltas(counts, current),
            )
        self.status = status
