"""The URL store: one row per page whatever its spelling, exact counts of new rows, the lastmod
histogram moved with the rows, on SQLite and PostgreSQL alike."""

import hashlib
import importlib
import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from batches import seen_keys, store
from batches.models import Batch, Domain, FoundBy, LastmodMonth, SitemapFile, Url
from batches.sitemaps import UrlRecord
from batches.sitemaps.identity import normal_form, url_key
from batches.store import DomainStore, forget_urls, insert_urls

pytestmark = pytest.mark.django_db

MAY = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
JUNE = datetime(2024, 6, 30, 23, 59, tzinfo=timezone.utc)


@pytest.fixture
def domain(owner):
    batch = Batch.objects.create(owner=owner, name="store", domains_total=1)
    return Domain.objects.create(batch=batch, entry="example.com", host="example.com")


def sitemap(domain, path):
    return SitemapFile.objects.create(domain=domain, url=f"https://example.com{path}", found_by=FoundBy.ROBOTS)


def stored(domain):
    return {
        url.loc: (url.sitemap_id, url.lastmod, url.changefreq, url.priority, url.extras)
        for url in Url.objects.filter(domain=domain)
    }


def months(domain):
    return dict(LastmodMonth.objects.filter(domain=domain).values_list("month", "urls"))


def pages(*paths):
    return [UrlRecord(f"https://example.com{path}") for path in paths]


@pytest.fixture(params=["serial", "parsing ahead"])
def writer(request, monkeypatch):
    """Both ways SQLite is written (executemany; one INSERT ... SELECT while a helper parses)."""
    monkeypatch.setattr(store, "parsing_ahead", lambda: request.param == "parsing ahead")


def test_it_stores_every_field_and_counts_the_new_rows(domain, writer):
    first = sitemap(domain, "/a.xml")
    extras = {"images": [{"loc": "https://example.com/1.jpg", "caption": "Café & co \\ \t tab"}]}
    records = [
        UrlRecord("https://example.com/b", MAY, "daily", 0.8, extras),
        UrlRecord("https://example.com/a"),
        UrlRecord("https://example.com/back\\slash\\N", JUNE, "", 0.0001, {"news": [{"title": "\\N \\t"}]}),
    ]
    assert insert_urls(domain.pk, first.pk, records) == 3
    assert stored(domain) == {
        "https://example.com/a": (first.pk, None, "", None, None),
        "https://example.com/back\\slash\\N": (first.pk, JUNE, "", 0.0001, {"news": [{"title": "\\N \\t"}]}),
        "https://example.com/b": (first.pk, MAY, "daily", 0.8, extras),
    }
    assert set(Url.objects.values_list("loc_key", flat=True)) == {
        url_key("https://example.com/a"), url_key("https://example.com/b"), url_key("https://example.com/back\\slash\\N")}


def test_rows_prepared_on_another_thread_are_stored_as_the_store_prepares_them(domain, owner, writer):
    # DomainWriter.crawl_config makes DomainStore.prepare the engine's CrawlConfig.prepare_chunk,
    # run on its parse-ahead helper: no database there, and the same rows in the end
    other = Domain.objects.create(batch=domain.batch, entry="example.org", host="example.org")
    extras = {"images": [{"loc": "https://example.com/1.jpg", "caption": "Café & co \\ \t tab"}]}
    records = [
        UrlRecord("https://example.com/b", MAY, "daily", 0.8, extras),
        UrlRecord("https://example.com/a"),
        UrlRecord("https://EXAMPLE.com:443/a", JUNE),  # the same page again: not a second row
        UrlRecord("https://example.com/back\\slash\\N", JUNE, "", 0.0001, {"news": [{"title": "\\N \\t"}]}),
    ]
    domain_store, prepared = DomainStore(domain.pk), []
    helper = threading.Thread(target=lambda: prepared.append(domain_store.prepare(records)))
    helper.start()
    helper.join()
    assert list(prepared[0].rows.values()) == records[:2] + records[3:]  # the first spelling, in order
    assert prepared[0].maybe == set()
    text = prepared[0].text
    if connection.vendor == "postgresql":  # COPY lines, their domain and sitemap put in front by the store
        assert [line.split("\t")[:2] for line in text.split("\n")] == [
            [record.loc.replace("\\", "\\\\"), str(url_key(record.loc))] for record in records[:2] + records[3:]]
    elif store.parsing_ahead():  # the JSON array of one INSERT ... SELECT
        assert [item[:2] for item in json.loads(text)] == [
            [record.loc, url_key(record.loc)] for record in records[:2] + records[3:]]
    else:
        assert text is None  # executemany binds the records themselves
    assert domain_store.insert_many([(None, prepared[0])]) == [3]
    assert DomainStore(other.pk).insert(None, records) == 3
    assert stored(domain) == stored(other) and len(stored(domain)) == 3
    assert stored(domain)["https://example.com/a"] == (None, None, "", None, None)
    keys = lambda d: list(Url.objects.filter(domain=d).order_by("id").values_list("loc_key", flat=True))  # noqa: E731
    assert keys(domain) == keys(other) == [url_key(record.loc) for record in records[:2] + records[3:]]
    assert months(domain) == months(other) == {date(2024, 5, 1): 1, date(2024, 6, 1): 1}


@pytest.mark.parametrize("lastmod", [
    datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc),  # whole seconds (SQLite: written by datetime())
    datetime(1969, 7, 20, 20, 17, 40, tzinfo=timezone.utc),  # before the epoch
    datetime(1, 1, 1, tzinfo=timezone.utc),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
    datetime(2024, 6, 30, 23, 59, 59, 1, tzinfo=timezone.utc),  # a microsecond: written as text
    datetime(2024, 6, 30, 22, 0, tzinfo=timezone(timedelta(hours=-3))),  # another zone: July in UTC
])
def test_a_lastmod_reads_back_as_it_was_stored_and_as_django_writes_it(domain, writer, lastmod):
    insert_urls(domain.pk, None, [UrlRecord("https://example.com/a", lastmod)])
    assert Url.objects.get(domain=domain).lastmod == lastmod
    assert Url.objects.filter(domain=domain, lastmod=lastmod).count() == 1  # Django's own spelling compares equal
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT lastmod || '' FROM batches_url")  # the text itself, not the converted value
            written = cursor.fetchone()[0]
        assert written == connection.ops.adapt_datetimefield_value(lastmod)


def test_it_keeps_the_order_the_site_listed_the_urls_in(domain):
    insert_urls(domain.pk, None, pages("/z", "/a", "/m"))
    assert list(Url.objects.filter(domain=domain).order_by("pk").values_list("loc", flat=True)) == [
        "https://example.com/z", "https://example.com/a", "https://example.com/m"]


def test_it_ignores_a_loc_already_stored_for_the_domain_and_does_not_count_it(domain, writer):
    first, second = sitemap(domain, "/a.xml"), sitemap(domain, "/b.xml")
    assert insert_urls(domain.pk, first.pk, pages("/x", "/y")) == 2
    again = [UrlRecord("https://example.com/y", None, "weekly"), *pages("/z", "/z")]
    assert insert_urls(domain.pk, second.pk, again) == 1
    rows = stored(domain)
    assert set(rows) == {"https://example.com/x", "https://example.com/y", "https://example.com/z"}
    assert rows["https://example.com/y"] == (first.pk, None, "", None, None)  # the first sitemap keeps it
    assert rows["https://example.com/z"][0] == second.pk


def test_it_stores_two_spellings_of_one_url_once_keeping_the_first(domain):
    spellings = [UrlRecord("HTTPS://Example.COM:443/Page"), UrlRecord("https://example.com/Page"),
                 UrlRecord("https://EXAMPLE.com/Page")]
    assert insert_urls(domain.pk, None, spellings[:2]) == 1
    assert insert_urls(domain.pk, None, spellings[2:]) == 0
    assert list(Url.objects.values_list("loc", flat=True)) == ["HTTPS://Example.COM:443/Page"]
    assert insert_urls(domain.pk, None, pages("/page")) == 1  # the path's case is the URL's own


def test_it_stores_the_same_loc_in_another_domain_as_a_new_row(domain):
    other = Domain.objects.create(batch=domain.batch, entry="other.com", host="other.com")
    assert insert_urls(domain.pk, None, pages("/shared")) == 1
    assert insert_urls(other.pk, None, pages("/shared")) == 1


def test_it_counts_several_chunks_in_one_transaction_separately(domain):
    chunks = [[UrlRecord(f"https://example.com/{n}-{i}") for i in range(300)] for n in range(3)]
    domain_store = DomainStore(domain.pk)
    with transaction.atomic():
        counts = [domain_store.insert(None, chunk) for chunk in chunks]
        counts.append(domain_store.insert(None, chunks[0] + pages("/new")))
    assert counts == [300, 300, 300, 1]
    assert Url.objects.filter(domain=domain).count() == 901


def test_an_empty_chunk_stores_nothing(domain):
    assert insert_urls(domain.pk, None, []) == 0
    assert DomainStore(domain.pk).insert(None, []) == 0


def test_a_fresh_domain_is_deduplicated_by_the_keys_its_run_prepared(domain):
    domain_store = DomainStore(domain.pk)
    assert domain_store.insert(None, pages("/a", "/b")) == 2
    assert domain_store.seen.exact == {url_key("https://example.com/a"), url_key("https://example.com/b")}
    with CaptureQueriesContext(connection) as queries:
        assert domain_store.insert(None, pages("/a", "/c", "/c")) == 1
    # No question to the database about /a: the run prepared it before.
    assert [q["sql"] for q in queries if q["sql"].startswith("SELECT")] == []
    assert sorted(Url.objects.values_list("loc", flat=True)) == [
        "https://example.com/a", "https://example.com/b", "https://example.com/c"]


def test_a_page_the_run_prepared_before_is_not_in_a_later_chunk_at_all(domain):
    domain_store = DomainStore(domain.pk)
    first, again = domain_store.prepare(pages("/a", "/b")), domain_store.prepare(pages("/b", "/c"))
    assert list(again.rows) == [url_key("https://example.com/c")]
    assert domain_store.insert_many([(None, first), (None, again)]) == [2, 1]


def test_a_store_on_a_domain_with_rows_asks_the_database_first(domain):
    insert_urls(domain.pk, None, pages("/old"))
    domain_store = DomainStore(domain.pk)
    assert domain_store.insert(None, pages("/old", "/new")) == 1
    assert domain_store.complete is False
    assert domain_store.insert(None, pages("/old", "/new", "/newer")) == 1
    assert Url.objects.filter(domain=domain).count() == 3


def test_rows_written_behind_the_stores_back_fall_back_to_asking_the_database(domain):
    domain_store = DomainStore(domain.pk)
    assert domain_store.insert(None, pages("/a")) == 1
    insert_urls(domain.pk, None, pages("/late"))  # a late write of an earlier attempt, say
    assert domain_store.insert(None, pages("/late", "/b")) == 1
    assert domain_store.complete is False
    assert sorted(Url.objects.values_list("loc", flat=True)) == [
        "https://example.com/a", "https://example.com/b", "https://example.com/late"]


def test_past_its_exact_keys_the_store_asks_the_database_only_about_the_keys_the_run_may_have_seen(
        domain, monkeypatch):
    monkeypatch.setattr(seen_keys, "EXACT_KEYS", 3)
    domain_store = DomainStore(domain.pk)
    assert domain_store.insert(None, pages("/1", "/2")) == 2
    assert domain_store.insert(None, pages("/2", "/3", "/4")) == 2
    assert (domain_store.complete, domain_store.seen.bits is None) == (True, False)  # the filter took over
    with CaptureQueriesContext(connection) as queries:
        assert domain_store.insert(None, pages("/1", "/3", "/4", "/5", "/6")) == 2
    lookups = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "loc_key" in q["sql"]]
    assert len(lookups) == 1
    assert [lookups[0].count(str(url_key(f"https://example.com/{n}"))) for n in range(1, 7)] == [1, 0, 1, 1, 0, 0]
    assert Url.objects.filter(domain=domain).count() == 6


def test_past_its_exact_keys_a_page_seen_in_an_earlier_chunk_of_the_same_transaction_is_stored_once(
        domain, monkeypatch):
    # A held domain is written whole: the database answers for the chunks written before.
    monkeypatch.setattr(seen_keys, "EXACT_KEYS", 1)
    domain_store = DomainStore(domain.pk)
    chunks = [domain_store.prepare(pages("/1", "/2")), domain_store.prepare(pages("/2", "/3"))]
    assert chunks[1].maybe == {url_key("https://example.com/2")}
    assert domain_store.insert_many([(None, chunk) for chunk in chunks]) == [2, 1]
    assert sorted(Url.objects.values_list("loc", flat=True)) == [
        "https://example.com/1", "https://example.com/2", "https://example.com/3"]


def test_a_rolled_back_chunk_written_again_is_stored_with_its_rows_once(domain):
    # What with_db_retry does after a failed transaction: the same prepared chunk again.
    domain_store = DomainStore(domain.pk)
    prepared = domain_store.prepare([UrlRecord("https://example.com/a", MAY)])
    with transaction.atomic():
        assert domain_store.insert_many([(None, prepared)]) == [1]
        transaction.set_rollback(True)
    assert (Url.objects.count(), months(domain)) == (0, {})
    assert domain_store.insert_many([(None, prepared)]) == [1]
    assert domain_store.insert_many([(None, prepared)]) == [0]  # its commit's answer lost, say
    assert (list(Url.objects.values_list("loc", flat=True)), months(domain)) == (
        ["https://example.com/a"], {date(2024, 5, 1): 1})


def test_the_lastmod_histogram_counts_each_new_row_by_utc_month(domain):
    # 2024-06-30 22:00 in UTC-3 is July in UTC: months are UTC months, whatever the site's zone.
    evening = datetime(2024, 6, 30, 22, 0, tzinfo=timezone(timedelta(hours=-3)))
    insert_urls(domain.pk, None, [UrlRecord("https://example.com/1", MAY), UrlRecord("https://example.com/2", JUNE),
                                  UrlRecord("https://example.com/3", JUNE), UrlRecord("https://example.com/4")])
    insert_urls(domain.pk, None, [UrlRecord("https://example.com/2", MAY), UrlRecord("https://example.com/5", MAY),
                                  UrlRecord("https://example.com/6", evening)])
    assert months(domain) == {date(2024, 5, 1): 2, date(2024, 6, 1): 2, date(2024, 7, 1): 1}


def test_forgetting_a_domain_removes_its_rows_and_its_histogram_only(domain):
    other = Domain.objects.create(batch=domain.batch, entry="other.com", host="other.com")
    insert_urls(domain.pk, None, [UrlRecord("https://example.com/1", MAY)])
    insert_urls(other.pk, None, [UrlRecord("https://other.com/1", MAY)])
    forget_urls(domain.pk)
    assert (Url.objects.filter(domain=domain).count(), months(domain)) == (0, {})
    assert (Url.objects.filter(domain=other).count(), months(other)) == (1, {date(2024, 5, 1): 1})


def test_the_migration_keys_old_rows_and_merges_two_spellings_with_their_counters(domain):
    migration = importlib.import_module("batches.migrations.0006_store")
    # Rows as 0004 stored them: unique only by their text, keys not computed yet.
    for number, (loc, lastmod) in enumerate([("https://example.com/a", MAY), ("HTTPS://EXAMPLE.COM/a", JUNE),
                                             ("https://example.com/b", JUNE)]):
        Url.objects.create(domain=domain, loc=loc, loc_key=number, lastmod=lastmod)
    Domain.objects.filter(pk=domain.pk).update(urls_count=3)
    Batch.objects.filter(pk=domain.batch_id).update(urls_count=3)

    migration.key_existing_rows(apps, None)

    assert dict(Url.objects.values_list("loc", "loc_key")) == {
        "https://example.com/a": url_key("https://example.com/a"),
        "https://example.com/b": url_key("https://example.com/b"),
    }
    assert (Domain.objects.get().urls_count, Batch.objects.get().urls_count) == (2, 2)
    assert months(domain) == {date(2024, 5, 1): 1, date(2024, 6, 1): 1}


@pytest.mark.parametrize("loc", [
    "http://127.0.0.1:8765/products/3/item-12345-987654321.html", "https://example.com/", "https://example.com",
    "https://example.com:443/a", "http://example.com:80/a", "http://example.com:8080/a?b=c&d=e;f",
    "https://shop.example.co.uk/p/a-b_c~d!$&'()*+,;=:@x/", "https://example.com/a?", "https://example.com/a#top",
    "https://Example.com/a", "https://example.com/./a/../b", "https://example.com/.well-known/x",
    "https://example.com/%7Euser", "https://xn--bcher-kva.example/a", "https://example.com./a",
    "https://example.com:0443/a", "https://user@example.com/a", "https://example.com/caf\u00e9",
])
def test_it_keys_every_loc_by_its_normal_form_fast_path_or_not(loc):
    reference = hashlib.blake2b(normal_form(loc).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    assert url_key(loc) == int.from_bytes(reference, "big", signed=True)
