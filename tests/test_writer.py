"""The writer: a small domain written whole in one transaction, a big one streamed, retries exact."""

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from batches import services, writer
from batches.entries import parse_text
from batches.models import Batch, Domain, DomainStatus, Finding, FindingCode, SitemapFile, Url
from batches.sitemaps import CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk
from batches.sitemaps.deadlines import Watchdog
from batches.sitemaps.records import UrlRecord
from batches.worker import claim_domain
from batches.writer import DomainWriter

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example"


def claimed_domain(owner):
    with transaction.atomic():
        services.create_batch(owner, "b", parse_text("shop.example\nother.example").entries, enqueue=False)
    return claim_domain(Domain.objects.get(host="shop.example").pk)


def held_writer(domain):
    """The writer the worker makes for a claimed domain whose earlier rows are forgotten."""
    domain_writer = DomainWriter(domain, hold=True)
    domain_writer.cleared()
    return domain_writer


def sitemap_events(pages, duplicates=0):
    """One sitemap of `pages` URLs (the first `duplicates` listed twice), then the crawl's end."""
    locs = [f"{ORIGIN}/p/{i}" for i in range(pages)] + [f"{ORIGIN}/p/{i}" for i in range(duplicates)]
    return [
        SitemapStarted(1, f"{ORIGIN}/sitemap.xml", None, "robots"),
        UrlChunk(1, [UrlRecord(loc=loc) for loc in locs[: len(locs) // 2]]),
        UrlChunk(1, [UrlRecord(loc=loc) for loc in locs[len(locs) // 2 :]]),
        SitemapFinished(1, kind="urlset", http_status=200, content_type="application/xml", bytes=1234,
                        url_count=len(locs)),
        CrawlFinished(origin=ORIGIN, sitemaps=1, urls=len(locs), robots_status=200, robots_bytes=40),
    ]


def stored(domain):
    return set(Url.objects.filter(domain=domain).values_list("loc", flat=True))


def test_a_small_domain_is_written_whole_when_its_crawl_finishes(owner):
    domain = claimed_domain(owner)
    events = sitemap_events(pages=40, duplicates=2)
    domain_writer = held_writer(domain)
    for event in events[:-1]:
        domain_writer.write(event)
    assert (SitemapFile.objects.count(), Url.objects.count()) == (0, 0)  # held in memory so far

    with CaptureQueriesContext(connection) as queries:
        domain_writer.write(events[-1])

    domain.refresh_from_db()
    batch = Batch.objects.get()
    assert stored(domain) == {f"{ORIGIN}/p/{i}" for i in range(40)}
    assert (domain.status, domain.urls_count, domain.sitemaps_count, domain.sitemaps_failed) == (
        DomainStatus.DONE, 40, 1, 0)
    assert (domain.robots_status, domain.robots_bytes, domain.origin) == (200, 40, ORIGIN)
    assert (batch.urls_count, batch.sitemaps_count, batch.domains_done, batch.status) == (40, 1, 1, "running")
    sitemap = SitemapFile.objects.get()
    assert (sitemap.kind, sitemap.http_status, sitemap.bytes, sitemap.url_count) == ("urlset", 200, 1234, 42)
    duplicates = Finding.objects.get(code=FindingCode.DUPLICATE_URL)
    assert (duplicates.count, duplicates.sitemap_id, domain.findings_count) == (2, sitemap.pk,
                                                                               Finding.objects.count())
    # The sitemap row written once, complete; a statement per chunk of URLs; the findings; the
    # domain's end and the batch's counters (PostgreSQL adds a SET LOCAL per chunk). Savepoints
    # aside, which a test's own transaction adds.
    statements = [query["sql"][:70] for query in queries if "SAVEPOINT" not in query["sql"]]
    assert len(statements) <= (9 if connection.vendor == "postgresql" else 7), statements


def test_a_sitemap_row_is_inserted_in_one_statement_as_create_would_write_it(owner, django_assert_num_queries):
    from datetime import datetime, timezone as dt_timezone

    domain = claimed_domain(owner)
    lastmod = datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt_timezone.utc)
    fields = {"domain_id": domain.pk, "url": f"{ORIGIN}/a.xml", "found_by": "robots", "lastmod": lastmod,
              "compressed": True, "http_status": 200}
    created = SitemapFile.objects.create(**fields)
    with django_assert_num_queries(1):
        pk = SitemapFile.objects.insert(parent_id=created.pk, **fields)

    def columns(row):
        return {f.attname: getattr(row, f.attname) for f in SitemapFile._meta.concrete_fields if f.attname not in ("id", "parent_id")}

    inserted = SitemapFile.objects.get(pk=pk)
    assert (inserted.parent_id, columns(inserted)) == (created.pk, columns(created))
    with pytest.raises(TypeError, match="not a column of SitemapFile: colour"):
        SitemapFile.objects.insert(colour="red", **fields)


def test_a_domain_past_the_hold_streams_its_rows_as_they_come(owner, monkeypatch):
    monkeypatch.setattr(writer, "HOLD_URLS", 10)
    domain = claimed_domain(owner)
    events = sitemap_events(pages=30)
    domain_writer = held_writer(domain)
    domain_writer.write(events[0])
    domain_writer.write(events[1])  # 15 URLs: past the hold

    assert len(stored(domain)) == 15
    assert Domain.objects.get(pk=domain.pk).urls_count == 15 and Batch.objects.get().urls_count == 15
    for event in events[2:]:
        domain_writer.write(event)
    domain.refresh_from_db()
    assert (domain.status, domain.urls_count, domain.sitemaps_count) == (DomainStatus.DONE, 30, 1)
    assert len(stored(domain)) == 30


def test_a_domain_held_too_long_shows_its_progress(owner, monkeypatch):
    monkeypatch.setattr(writer, "HOLD_SECONDS", 0.0)
    domain = claimed_domain(owner)
    events = sitemap_events(pages=6)
    domain_writer = held_writer(domain)
    domain_writer.write(events[0])
    assert not domain_writer.hold_expired()  # no URL yet: nothing worth showing
    domain_writer.write(events[1])
    assert len(stored(domain)) == 3


def test_cancelling_a_held_domain_keeps_what_it_read_before(owner):
    domain = claimed_domain(owner)
    domain_writer = held_writer(domain)
    for event in sitemap_events(pages=8)[:2]:
        domain_writer.write(event)

    domain_writer.finish(DomainStatus.CANCELLED)

    domain.refresh_from_db()
    assert (domain.status, domain.urls_count) == (DomainStatus.CANCELLED, 4)
    assert len(stored(domain)) == 4 and Batch.objects.get().urls_count == 4


def test_a_whole_write_that_failed_is_counted_once_when_repeated(owner, monkeypatch):
    domain = claimed_domain(owner)
    events = sitemap_events(pages=20, duplicates=3)
    domain_writer = held_writer(domain)
    for event in events[:-1]:
        domain_writer.write(event)
    failures = []

    def lost_connection(*args):
        failures.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(writer, "add_findings", lost_connection)
    with pytest.raises(OperationalError):
        domain_writer.write(events[-1])
    assert domain_writer.status == DomainStatus.RUNNING and Url.objects.count() == 0
    monkeypatch.undo()

    domain_writer.write(events[-1])  # what worker.with_db_retry does once the database is back

    domain.refresh_from_db()
    assert failures == [1]
    assert (domain.status, domain.urls_count, Batch.objects.get().urls_count) == (DomainStatus.DONE, 20, 20)
    assert Finding.objects.get(code=FindingCode.DUPLICATE_URL).count == 3  # not 6


def test_the_watchdog_calls_what_is_due_in_order_and_never_what_was_cancelled():
    watchdog = Watchdog()
    called = []
    done = threading.Event()
    now = time.monotonic()
    watchdog.call_at(now + 0.2, lambda: (called.append("late"), done.set()))
    cancelled = watchdog.call_at(now + 0.05, lambda: called.append("cancelled"))
    watchdog.call_at(now + 0.1, lambda: called.append("early"))
    cancelled.cancel()

    assert done.wait(5)
    assert called == ["early", "late"]
