"""The worker side: claim a domain, crawl it, store what the crawl streams, finish it.

A qcluster worker process keeps up to SITEMAPS_DOMAINS_PER_WORKER domains in flight (`Crawler`):
each crawl runs the engine on a thread of its own (network latency is what threads hide), and
every crawl's events pass through one queue to one writer thread, which turns them into rows in
short transactions on the process's one connection for writes (no transaction is open while
anything waits on the network, and a hundred crawls do not need a hundred connections). One
heartbeat thread stamps all the process's claimed domains in one UPDATE and notices cancelled
batches. `process_domain` runs one domain in the calling thread (`import_domains --sync`, tests).

Every event passes `DomainWriter.write` (writer.py: a small domain is written whole, in one
transaction); every run ends in `DomainWriter.finish`.
"""

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections
from django.utils import timezone

from . import history
from .findings import forget_findings
from .models import BATCH_RUNNABLE, Batch, Domain, DomainStatus, SitemapFile
from .politeness import DomainGate, host_gate
from .queue import enqueue_domains, feed_batch
from .reaper import reap_if_due, this_process
from .sitemaps import CrawlConfig, CrawlFinished, crawl_domain
from .store import forget_urls
from .writer import CANCEL_CHECK_SECONDS, DomainWriter

log = logging.getLogger(__name__)
STOP_GRACE = 5.0  # a stopping worker's crawls get this long to stop before it hands them back anyway
QUEUED_EVENTS = 64  # events waiting for the writer, per process (each at most one UrlChunk)
FEED_EVERY = 2.0  # seconds between a Crawler's top-ups of a batch's share of the task queue


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


def domain_config(config, domain):
    """The crawl's config for one domain: its own host paced by a DomainGate (politeness.py)."""
    if config.host_gate is None:
        return config
    return replace(config, host_gate=DomainGate(config.host_gate, {domain.host, f"www.{domain.host}"}))


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
    """Process one domain in this thread; a no-op when it is not claimable (done, running
    elsewhere, cancelled). With `feed`, hand the batch's next domains to the queue afterwards."""
    domain = with_db_retry(claim_domain, domain_id)
    if domain is None:
        return "not claimed"
    writer = DomainWriter(domain, hold=True)
    shared = crawl_config()
    config = writer.crawl_config(domain_config(shared, domain))
    with Heartbeat([domain]):
        try:
            with_db_retry(forget_previous_run, domain)
            writer.cleared()
            _crawl_here(domain, writer, config)
        except Exception as exc:
            log.exception("domain %s failed unexpectedly", domain_id)
            with_db_retry(writer.finish, DomainStatus.FAILED, f"internal error: {exc!r}"[:500])
        finally:
            if config.host_gate:
                config.host_gate.close()
                shared.host_gate.close()
    if feed:
        with_db_retry(feed_batch, domain.batch_id)
    return writer.status


def _crawl_here(domain, writer, config):
    cancelled = _Latch(lambda: with_db_retry(writer.cancelled))
    # The engine polls `cancelled` between body chunks too (on this thread: it may use our
    # connection), so a cancel is seen even inside one long sitemap.
    crawl = crawl_domain(domain.host, config, scheme=domain.scheme, cancelled=cancelled)
    try:
        for event in crawl:
            if cancelled.seen or cancelled():
                # nothing after the cancel is written: the engine's own last events included
                with_db_retry(writer.finish, DomainStatus.CANCELLED)
                return
            with_db_retry(writer.write, event)
            if writer.lost:
                log.warning("domain %s was taken over by another worker; stopping", domain.pk)
                return
        writer.ended()
    finally:
        crawl.close()


class _Latch:
    """A cancel check that stays true once it has been true."""

    def __init__(self, check):
        self.check = check
        self.seen = False

    def __call__(self):
        self.seen = self.seen or bool(self.check())
        return self.seen


def claim_domain(domain_id):
    """Take the domain for this process, or return None (see DomainQuerySet.claim)."""
    return Domain.objects.claim(domain_id, this_process())


def process_batch_here(batch_id, threads=4, on_progress=None, page_size=10_000):
    """Process every queued domain of a batch in this process (`import_domains --sync`)."""

    def run(domain_id):
        try:
            return process_domain(domain_id, feed=False)
        finally:
            connections.close_all()  # this thread's own connection

    finished = last = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        while True:
            ids = list(
                Domain.objects.filter(batch_id=batch_id, status=DomainStatus.QUEUED, position__gt=last)
                .order_by("position").values_list("pk", "position")[:page_size]
            )
            if not ids:
                return
            last = ids[-1][1]
            # counted as they end, not in input order: the failures the progress line reads from
            # the database are then never ahead of the finished count
            for _ in as_completed([pool.submit(run, pk) for pk, _ in ids]):
                finished += 1
                if on_progress:
                    on_progress(finished)


def forget_previous_run(domain):
    """Remove what an earlier attempt stored and found, so one run's rows are all that remain.
    (Its counters left the domain's and the batch's when it was queued again: Domain.requeue.)"""
    forget_findings(domain)
    # Every URL row points to a sitemap row of its run, so no sitemap row means a clean slate
    # (the claim tells, Domain.objects.claim; a domain from elsewhere is asked).
    has_rows = getattr(domain, "has_sitemap_rows", None)
    if has_rows is None:
        has_rows = SitemapFile.objects.filter(domain_id=domain.pk).exists()
    if not has_rows:
        return
    history.hand_over_reused([domain.pk])  # re-runs: a later batch may read these rows
    forget_urls(domain.pk)  # in chunks (a domain of millions of URLs), and its lastmod histogram
    SitemapFile.objects.filter(domain_id=domain.pk).delete()


class Heartbeat:
    """A thread that stamps the claimed domains every SITEMAPS_HEARTBEAT seconds in one UPDATE,
    so a long request is not mistaken for a dead worker, and gives the reaper its chance.
    `domains` is a live collection: a Crawler adds and removes its runs' domains."""

    def __init__(self, domains, on_beat=None, on_heartbeat=None):
        self.domains = domains
        self.on_beat = on_beat  # every CANCEL_CHECK_SECONDS
        self.on_heartbeat = on_heartbeat  # with every heartbeat
        self.identity = this_process()
        self.stopping = threading.Event()
        self.thread = None

    def __enter__(self):
        if not connection.in_atomic_block:  # its own connection could not see the rows
            self.thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        if self.thread:
            self.thread.join()

    def _run(self):
        interval = min(settings.SITEMAPS_HEARTBEAT, CANCEL_CHECK_SECONDS) if self.on_beat else settings.SITEMAPS_HEARTBEAT
        next_beat = 0.0
        try:
            while not self.stopping.wait(interval):
                try:
                    if self.on_beat:
                        self.on_beat()
                    if time.monotonic() >= next_beat:
                        next_beat = time.monotonic() + settings.SITEMAPS_HEARTBEAT
                        self.beat()
                        if self.on_heartbeat:
                            self.on_heartbeat()
                        reap_if_due()
                except DatabaseError:
                    connection.close()  # unreachable for now: the next beat tries again
                except Exception:
                    log.exception("heartbeat failed; beating on")
        finally:
            connection.close()

    def beat(self):
        ids = [domain.pk for domain in list(self.domains)]
        if ids:
            Domain.objects.filter(pk__in=ids, status=DomainStatus.RUNNING, claimed_by=self.identity).update(
                heartbeat_at=timezone.now())


class Run:
    """One claimed domain crawling in a Crawler: its writer, its config, why it must stop."""

    def __init__(self, domain, config):
        self.domain = domain
        self.writer = DomainWriter(domain, hold=True)
        self.config = self.writer.crawl_config(config)
        self.stop_reason = ""  # "cancelled", "lost" or "stopping": the crawl thread stops
        self.error = ""

    def stop(self, reason):
        self.stop_reason = self.stop_reason or reason


_END = object()  # a crawl thread's last item for its run
_crawler = None
_crawler_lock = threading.Lock()


def crawler():
    """This process's Crawler, started on first use."""
    global _crawler
    with _crawler_lock:
        if _crawler is None:
            _crawler = Crawler(settings.SITEMAPS_DOMAINS_PER_WORKER)
        return _crawler


class CrawlThreads:
    """Daemon threads that run one crawl after another: starting an OS thread per domain cost
    a twentieth of a small domain's CPU. Daemons, like one thread per crawl was: a stopping
    process does not wait for its crawls (the writer hands the unfinished runs back). A thread
    is started only when none is idle, so there are about as many as crawls ran at once."""

    def __init__(self):
        self.waiting = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0  # threads done with their crawl, waiting for the next one

    def run(self, function, *args):
        with self.lock:
            start = self.idle == 0
            self.idle = max(0, self.idle - 1)
        self.waiting.put((function, args))
        if start:
            threading.Thread(target=self._serve, name="crawl", daemon=True).start()

    def _serve(self):
        while True:
            function, args = self.waiting.get()
            function(*args)  # Crawler._crawl catches everything; a crawl never ends this thread
            with self.lock:
                self.idle += 1


class Crawler:
    """Up to `slots` domains in flight in this process; see the module's docstring."""

    def __init__(self, slots):
        self.slots = threading.BoundedSemaphore(slots)
        self.runs = {}  # domain id -> Run; changed by the main thread and the writer, under lock
        self.lock = threading.Lock()
        self.events = queue.Queue(QUEUED_EVENTS)
        self.config = crawl_config()  # one gate for the process's crawls; never closed
        self.identity = this_process()
        self.exiting = False
        self.to_feed = set()  # batches whose domains ended since the last top-up (writer thread)
        self.next_feed = 0.0
        self.crawl_threads = CrawlThreads()
        self.heartbeat = Heartbeat(_Domains(self), on_beat=self._check_cancelled, on_heartbeat=self._extend_holds)
        self.heartbeat.__enter__()
        # Not a daemon: the process waits for it at exit, and it hands the unfinished runs back.
        self.writer = threading.Thread(target=self._write_all, name="domain-writer")
        self.writer.start()

    # --- the main thread: the django-q2 task --------------------------------------------
    def accept(self, domain_ids):
        """Claim each domain as a slot frees and start its crawl; returns how many started.
        Domains that found no slot in half the task timeout go back to the queue."""
        started = 0
        deadline = time.monotonic() + settings.SITEMAPS_TASK_TIMEOUT / 2
        for position, domain_id in enumerate(domain_ids):
            if not self.slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                batch_id = Domain.objects.filter(pk=domain_id).values_list("batch_id", flat=True).first()
                enqueue_domains(list(domain_ids[position:]), batch_id)
                break
            if self._start(domain_id):
                started += 1
            else:
                self.slots.release()
        return started

    def _start(self, domain_id):
        domain = with_db_retry(Domain.objects.claim, domain_id, self.identity)
        if domain is None:
            return False
        run = Run(domain, domain_config(self.config, domain))
        with self.lock:
            self.runs[domain.pk] = run  # from now on the heartbeat covers it
        try:
            with_db_retry(forget_previous_run, domain)  # may take a while: many rows to delete
            run.writer.cleared()
        except Exception:
            log.exception("domain %s: could not clear an earlier run", domain_id)
        self.crawl_threads.run(self._crawl, run)
        return True

    # --- crawl threads: the engine, no database ------------------------------------------
    def _crawl(self, run):
        try:
            # the engine also looks between body chunks (no database: stop_reason is set by the
            # heartbeat and the writer)
            events = crawl_domain(run.domain.host, run.config, scheme=run.domain.scheme,
                                  cancelled=lambda: bool(run.stop_reason))
            try:
                for event in events:
                    self.events.put((run, event))  # blocks while the writer is behind: bounded memory
                    if run.stop_reason:
                        break
            finally:
                events.close()
        except Exception as exc:
            log.exception("domain %s failed unexpectedly", run.domain.pk)
            run.error = f"internal error: {exc!r}"[:500]
        finally:
            self.events.put((run, _END))

    # --- the writer thread --------------------------------------------------------------
    def _write_all(self):
        stopping_since = None
        while True:
            try:
                run, event = self.events.get(timeout=0.5)
            except queue.Empty:
                run = event = None
            if event is _END:
                self._end(run)
            elif event is not None:
                self._write(run, event)
            self._housekeep(idle=event is None)
            if stopping_since is None and not threading.main_thread().is_alive():
                # The worker took its last task (the cluster stops, or django-q2 recycles the
                # process): its crawls can start no more requests, so they go back to the queue.
                stopping_since = time.monotonic()
                self.exiting = True
            if stopping_since is not None and self._stopping(stopping_since):
                break
        self._feed()
        connection.close()

    def _housekeep(self, idle):
        """Every FEED_EVERY seconds (or when no event waits): write what crawls still running
        have held too long (writer.HOLD_SECONDS), and top up the batches whose domains ended.
        One top-up per batch per turn, not one per domain: each costs a few queries."""
        now = time.monotonic()
        if not idle and now < self.next_feed:
            return
        self.next_feed = now + FEED_EVERY
        with self.lock:
            runs = list(self.runs.values())
        for run in runs:
            if run.writer.hold_expired(now) and not run.writer.lost:
                try:
                    with_db_retry(run.writer.release)
                except Exception:
                    log.exception("domain %s: could not write its progress", run.domain.pk)
        self._feed()

    def _feed(self):
        batches, self.to_feed = self.to_feed, set()
        for batch_id in batches:
            try:
                with_db_retry(feed_batch, batch_id)
            except Exception:
                log.exception("batch %s: could not top up the task queue", batch_id)

    def _write(self, run, event):
        writer = run.writer
        if writer.status != DomainStatus.RUNNING or writer.lost:
            return  # the run has ended or was taken over: later events are dropped
        if run.stop_reason and isinstance(event, CrawlFinished):
            return  # a stopped crawl's summary: `_end` decides how the run ends
        with_db_retry(writer.write, event)
        if writer.lost:
            log.warning("domain %s was taken over by another worker; stopping", run.domain.pk)
            run.stop("lost")

    def _end(self, run):
        writer = run.writer
        try:
            if run.stop_reason == "cancelled":
                with_db_retry(writer.finish, DomainStatus.CANCELLED)
            elif run.stop_reason == "stopping" or self.exiting:
                with_db_retry(writer.hand_back)
            elif run.error:
                with_db_retry(writer.finish, DomainStatus.FAILED, run.error)
            else:
                with_db_retry(writer.ended)
            if writer.status != DomainStatus.QUEUED:
                self.to_feed.add(run.domain.batch_id)
        except Exception:
            log.exception("domain %s: could not record its end", run.domain.pk)
        finally:
            if run.config.host_gate:
                run.config.host_gate.close()  # its held hosts go back to the shared store
            with self.lock:
                self.runs.pop(run.domain.pk, None)
            self.slots.release()

    def _stopping(self, since):
        """True once every run has ended; asks them to stop, and hands back directly what has
        not stopped after STOP_GRACE (its crawl waits on the network)."""
        with self.lock:
            runs = list(self.runs.values())
        if not runs:
            return True
        for run in runs:
            run.stop("stopping")
        if time.monotonic() - since > STOP_GRACE:
            for run in runs:
                with_db_retry(run.writer.hand_back)
            return True
        return False

    # --- the heartbeat thread -----------------------------------------------------------
    def _check_cancelled(self):
        """Stop the runs whose batch was cancelled or deleted (one query for all of them)."""
        with self.lock:
            runs = list(self.runs.values())
        batch_ids = {run.domain.batch_id for run in runs}
        if not batch_ids:
            return
        ended = set(Batch.all_objects.filter(pk__in=batch_ids).exclude(
            status__in=BATCH_RUNNABLE, deleted_at__isnull=True).values_list("pk", flat=True))
        for run in runs:
            if run.domain.batch_id in ended:
                run.stop("cancelled")


    def _extend_holds(self):
        """Renew the crawls' holds on their own hosts (politeness.DomainGate) in one statement."""
        with self.lock:
            gates = [run.config.host_gate for run in self.runs.values() if run.config.host_gate]
        if gates:
            self.config.host_gate.extend([host for gate in gates for host in gate.held()])


class _Domains:
    """The domains a Crawler has in flight, as the heartbeat reads them."""

    def __init__(self, crawler):
        self.crawler = crawler

    def __iter__(self):
        with self.crawler.lock:
            return iter([run.domain for run in self.crawler.runs.values()])
