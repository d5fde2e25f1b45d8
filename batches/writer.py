"""Turning one claimed domain's engine events into rows and counters.

A small domain is written whole. With `hold`, its events wait in memory (at most HOLD_URLS
URLs, for at most HOLD_SECONDS after the first) and, when its crawl finishes, its sitemap rows,
URL rows, findings and end go to the database in one transaction: about a dozen statements,
where writing every event as it came took some sixty in seven transactions, and the CPU those
cost was most of a small domain's. A domain that outgrows the hold is written as it streams, one
short transaction per event, so a big domain's progress shows as it goes and memory stays
bounded.

Every event passes `write`, every run ends in `finish` (or `hand_back`); both may be called again
after a database error (worker.with_db_retry): what a failed transaction changed in memory is
taken back (`_transaction`).
"""

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import reuse
from .findings import add_findings, save_findings
from .models import BATCH_RUNNABLE, Batch, Domain, DomainErrorCode, DomainStatus, SitemapFile
from .queue import enqueue_domains
from .sitemaps import CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk
from .sitemaps.audit import SitemapAudit, domain_error_code, sitemap_problem
from .store import DomainStore

CANCEL_CHECK_SECONDS = 1.0
HOLD_URLS = 2_000  # a domain listing more is streamed: 32 crawls hold at most ~64,000 URLs
HOLD_SECONDS = 5.0  # and one still crawling this long after its first URLs shows its progress


class DomainWriter:
    """Turns engine events into rows and counters for one claimed domain."""

    def __init__(self, domain, hold=False):
        self.domain = domain
        self.attempt = domain.attempts
        self.sitemap_ids = {}
        self.store = DomainStore(domain.pk)  # knows the keys it wrote: a fresh domain COPYs straight in
        self.status = DomainStatus.RUNNING
        self.lost = False
        self.clean = False  # no rows or findings of an earlier attempt left (see `cleared`)
        self._next_cancel_check = 0.0
        self.audit = SitemapAudit(domain.host)  # findings, computed while crawling
        self.previous = reuse.PreviousRun(domain)  # re-runs: what the previous batch stored
        self.held = [] if hold else None  # None: streaming
        self.held_urls = 0
        self.held_since = 0.0  # when the first URLs were held
        self._last = None  # the last event taken (a retried write brings it again)
        self._counted = Counter()  # duplicates counted by the transaction in progress

    def crawl_config(self, config):
        """The crawl's config for this run: a re-run's previous sitemaps (reuse.py), and the
        store's per-URL work done where the URLs are parsed (DomainStore.prepare)."""
        return replace(self.previous.crawl_config(config), prepare_chunk=self.store.prepare)

    def cleared(self):
        """The domain's earlier rows and findings are gone (worker.forget_previous_run)."""
        self.clean = True
        self.store.cleared()

    # --- events -------------------------------------------------------------------------
    def write(self, event):
        if event is not self._last:
            self._last = event
            self.audit.observe(event)
            if self.held is not None:
                self.held.append(event)
                if isinstance(event, UrlChunk):
                    self.held_since = self.held_since or time.monotonic()
                    self.held_urls += len(event.urls)
        if self.held is None:
            self._stream(event)
        elif isinstance(event, CrawlFinished):
            self._write_whole(event)
        elif self.held_urls > HOLD_URLS or self.hold_expired():
            self.release()

    def hold_expired(self, now=None):
        if self.held is None or not self.held_since:
            return False
        return (now or time.monotonic()) - self.held_since > HOLD_SECONDS

    def release(self):
        """Write what is held back and stream from now on."""
        if self.held is None:
            return
        if self.held and not self.lost and self.status == DomainStatus.RUNNING:
            with self._transaction():
                self._move_counters(self._apply(self.held))
        self.held = None

    def _stream(self, event):
        if isinstance(event, CrawlFinished):
            self._finish_crawl(event)
            return
        with self._transaction():
            self._move_counters(self._apply([event]))

    def _apply(self, events):
        """Write the rows of `events` (inside `_transaction`); returns the counters they move."""
        finished = {event.key: event for event in events if isinstance(event, SitemapFinished)}
        started = [event for event in events if isinstance(event, SitemapStarted)]
        moved = Counter()
        for event in started:
            self._start_sitemap(event, finished.get(event.key))
        chunks = [event for event in events if isinstance(event, UrlChunk)]
        # one call for every chunk, written in order: each is new against the run's keys (seen_keys.py)
        stored = self.store.insert_many(
            [(self.sitemap_ids.get(chunk.sitemap_key), self._prepared(chunk)) for chunk in chunks])
        for chunk, new in zip(chunks, stored):
            moved["urls_count"] += new
            self._count_duplicates(chunk.sitemap_key, len(chunk.urls) - new)
        written = {event.key for event in started}  # their rows were created complete
        for event in finished.values():
            self._finish_sitemap(event, written=event.key in written, moved=moved)
        return moved

    def _prepared(self, chunk):
        # The engine prepares each chunk where it parsed it (crawl_config); a crawl without that
        # has it done here, once: a retried write brings the same chunk, prepared already.
        if chunk.prepared is None:
            chunk.prepared = self.store.prepare(chunk.urls)
        return chunk.prepared

    def _start_sitemap(self, event, finished=None):
        # When its end is known already (a held run), the row is written once, complete.
        fields = _sitemap_fields(finished) if finished else {}
        self.sitemap_ids[event.key] = SitemapFile.objects.insert(
            domain_id=self.domain.pk, parent_id=self.sitemap_ids.get(event.parent_key), url=event.url,
            found_by=event.found_by, lastmod=event.lastmod, **fields,
        )

    def _finish_sitemap(self, event, written, moved):
        sitemap = SitemapFile.objects.filter(pk=self.sitemap_ids.get(event.key))
        if not written:
            sitemap.update(**_sitemap_fields(event))
        if event.unchanged:  # re-runs: keep the previous run's rows (reuse.py)
            url = sitemap.values_list("url", flat=True).first()
            if not self.previous.reuse(self.sitemap_ids.get(event.key), url, event):
                sitemap.update(error="unchanged, but the previous run has no rows for it")
        # a damaged index that still listed children is not a failed sitemap
        moved["sitemaps_failed"] += int(bool(event.error) and not event.url_count and event.kind != "index")
        moved["sitemaps_count"] += 1
        moved["urls_skipped"] += event.skipped

    def _move_counters(self, moved):
        """Add `moved` to the domain's counters and the batch's, if the run is still ours."""
        moved = {name: value for name, value in moved.items() if value}
        if not moved:
            return
        if not self._mine().update(heartbeat_at=timezone.now(), **{k: F(k) + v for k, v in moved.items()}):
            self.lost = True
            transaction.set_rollback(True)
            return
        batch = {name: F(name) + moved[name] for name in ("urls_count", "sitemaps_count") if name in moved}
        if batch:
            Batch.all_objects.filter(pk=self.domain.batch_id).update(**batch)

    def _count_duplicates(self, sitemap_key, count):
        if count:
            self.audit.count_duplicates(sitemap_key, count)
            self._counted[sitemap_key] += count

    @contextmanager
    def _transaction(self):
        """One transaction; when it fails, what it changed in memory is taken back (the
        duplicates it counted, the end it recorded), so a retry counts them once."""
        self._counted, status = Counter(), self.status
        try:
            with transaction.atomic():
                yield
        except BaseException:
            for key, count in self._counted.items():
                self.audit.count_duplicates(key, -count)
            self.status = status
            raise

    def _write_whole(self, event):
        """The whole run in one transaction: rows, findings and the domain's end."""
        with self._transaction():
            moved = self._apply(self.held)
            findings = self.audit.findings()
            if self.clean:
                add_findings(self.domain, findings, self.sitemap_ids)
            else:
                save_findings(self.domain, findings, self.sitemap_ids)
            ended = self._end(
                _crawl_status(event), error=event.error, origin=event.origin, notes="; ".join(event.notes),
                error_code=domain_error_code(event),
                # a first run whose every row is in this transaction knows its counts
                whole=moved if self.clean and self.previous.domain_id is None else None,
                fields={"robots_status": event.robots_status, "robots_bytes": event.robots_bytes,
                        "findings_count": len(findings), "sitemaps_failed": moved["sitemaps_failed"],
                        "urls_skipped": moved["urls_skipped"]},
            )
            if not ended:
                transaction.set_rollback(True)
        self.held = None

    def _finish_crawl(self, event):
        save_findings(self.domain, self.audit.findings(), self.sitemap_ids)
        self._mine().update(robots_status=event.robots_status, robots_bytes=event.robots_bytes)
        self.finish(_crawl_status(event), error=event.error, origin=event.origin, notes="; ".join(event.notes),
                    error_code=domain_error_code(event))

    # --- the run's end ------------------------------------------------------------------
    def cancelled(self):
        now = time.monotonic()
        if now < self._next_cancel_check or self.status != DomainStatus.RUNNING:
            return False
        self._next_cancel_check = now + CANCEL_CHECK_SECONDS
        return not Batch.objects.filter(pk=self.domain.batch_id, status__in=BATCH_RUNNABLE).exists()

    def ended(self):
        """The crawl stopped without saying how: a run still open is failed."""
        if self.status == DomainStatus.RUNNING and not self.lost:
            self.finish(DomainStatus.FAILED, "the crawl ended without a result")

    def finish(self, status, error="", origin="", notes="", error_code=""):
        """Record the domain's final status once per attempt, what is held written first."""
        self.release()
        if self.lost or not self._mine().exists():
            self.lost = True
            return
        self._end(status, error, origin, notes, error_code)

    def _end(self, status, error="", origin="", notes="", error_code="", whole=None, fields=None):
        """Domain.objects.finish moves the counters and the batch; False when the run is not ours.
        `whole`: the counters of a first run written whole, in the caller's transaction."""
        fields = {"error": error, "notes": notes, **(fields or {})}
        # a failure without a code of its own (an exception, a crawl cut short) is ours
        fields["error_code"] = error_code or (DomainErrorCode.INTERNAL if status == DomainStatus.FAILED else "")
        if origin:
            fields["origin"] = origin
        if whole is not None:
            ended = Domain.objects.finish_whole(self.domain.pk, self.attempt, self.domain.batch_id, status,
                                                whole["urls_count"], whole["sitemaps_count"], **fields)
        else:
            # Re-runs (reuse.py): reused URLs counted, changes against the previous run; the
            # change queries can take seconds on a big domain, so outside the locking transaction.
            counts = reuse.finish_counts(self.domain, self.previous, status)
            ended = self._mine().finish(status, counts=counts, **fields)
        if not ended:
            self.lost = True
            return False
        self.status = status  # taken back if the transaction around this fails (`_transaction`)
        return True

    def hand_back(self):
        """Queue the domain again without counting this attempt (its worker is stopping)."""
        if self.status == DomainStatus.RUNNING and not self.lost and self._mine().requeue(
                attempts=F("attempts") - 1):
            self.status = DomainStatus.QUEUED
            self.held = None
            enqueue_domains([self.domain.pk], self.domain.batch_id)

    def _mine(self):
        return Domain.objects.filter(pk=self.domain.pk, status=DomainStatus.RUNNING, attempts=self.attempt)


def _crawl_status(event):
    return DomainStatus.FAILED if event.error else DomainStatus.DONE


def _sitemap_fields(event):
    return {
        "kind": event.kind, "http_status": event.http_status, "content_type": event.content_type[:200],
        "compressed": event.compressed, "bytes": event.bytes, "response_ms": event.response_ms,
        "url_count": event.url_count, "generator": event.generator, "error": event.error,
        "fetched_at": timezone.now(), "error_code": sitemap_problem(event),
        "etag": event.etag[:200], "last_modified": event.last_modified[:64],
    }
