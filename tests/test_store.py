"""The fast URL insert: exact rows, exact counts of new rows, on SQLite and PostgreSQL alike."""

from datetime import datetime, timezone

import pytest
from django.db import transaction

from batches.models import Batch, Domain, FoundBy, SitemapFile, Url
from batches.sitemaps import UrlRecord
from batches.store import insert_urls

pytestmark = pytest.mark.django_db


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


def test_it_stores_every_field_and_counts_the_new_rows(domain):
    first = sitemap(domain, "/a.xml")
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
    extras = {"images": [{"loc": "https://example.com/1.jpg", "caption": "Café & co"}]}
    records = [
        UrlRecord("https://example.com/b", when, "daily", 0.8, extras),
        UrlRecord("https://example.com/a"),
    ]
    assert insert_urls(domain.pk, first.pk, records) == 2
    assert stored(domain) == {
        "https://example.com/a": (first.pk, None, "", None, None),
        "https://example.com/b": (first.pk, when, "daily", 0.8, extras),
    }


def test_a_loc_already_stored_for_the_domain_is_ignored_and_not_counted(domain):
    first, second = sitemap(domain, "/a.xml"), sitemap(domain, "/b.xml")
    assert insert_urls(domain.pk, first.pk, [UrlRecord("https://example.com/x"), UrlRecord("https://example.com/y")]) == 2
    again = [UrlRecord("https://example.com/y", None, "weekly"), UrlRecord("https://example.com/z"),
             UrlRecord("https://example.com/z")]
    assert insert_urls(domain.pk, second.pk, again) == 1
    rows = stored(domain)
    assert set(rows) == {"https://example.com/x", "https://example.com/y", "https://example.com/z"}
    assert rows["https://example.com/y"] == (first.pk, None, "", None, None)  # the first sitemap keeps it
    assert rows["https://example.com/z"][0] == second.pk


def test_the_same_loc_in_another_domain_is_a_new_row(domain, owner):
    other = Domain.objects.create(batch=domain.batch, entry="other.com", host="other.com")
    record = [UrlRecord("https://example.com/shared")]
    assert insert_urls(domain.pk, None, record) == 1
    assert insert_urls(other.pk, None, record) == 1


def test_several_chunks_in_one_transaction_are_counted_separately(domain):
    chunks = [[UrlRecord(f"https://example.com/{n}-{i}") for i in range(300)] for n in range(3)]
    with transaction.atomic():
        counts = [insert_urls(domain.pk, None, chunk) for chunk in chunks]
        counts.append(insert_urls(domain.pk, None, chunks[0]))
    assert counts == [300, 300, 300, 0]
    assert Url.objects.filter(domain=domain).count() == 900


def test_an_empty_chunk_stores_nothing(domain):
    assert insert_urls(domain.pk, None, []) == 0
