"""The domain page: sitemap tree, URL table with search and filters, keyset pages, lastmod chart."""

import re

import pytest
from django.urls import reverse

from batches.models import FoundBy, SitemapFile, SitemapKind, Url
from batches.sitemaps import UrlRecord
from batches.store import insert_urls
from tests.factories import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(owner):
    return make_batch(owner, domains=2, urls_per_domain=5, failed=1)


@pytest.fixture
def domain(batch):
    return batch.domains.get(position=1)


def domain_url(domain):
    return reverse("domain_detail", args=[domain.batch_id, domain.pk])


def shown_locs(page):
    return re.findall(r'<td class="url"><a href="([^"]+)"', page.split('id="url-table"')[1])


def get_page(client, domain, **params):
    response = client.get(domain_url(domain), params)
    assert response.status_code == 200
    return response.content.decode()


def test_other_users_domain_is_404_and_anonymous_is_sent_to_log_in(client, other_user, domain):
    client.force_login(other_user)
    assert client.get(domain_url(domain)).status_code == 404
    assert client.get(reverse("domain_chart", args=[domain.batch_id, domain.pk])).status_code == 404
    client.logout()
    assert client.get(domain_url(domain)).status_code == 302


def test_a_domain_under_another_batch_id_is_404(owner_client, owner, domain):
    mine_too = make_batch(owner, name="Second", domains=1)
    assert owner_client.get(reverse("domain_detail", args=[mine_too.pk, domain.pk])).status_code == 404


def test_staff_can_open_any_domain_page(client, staff, domain):
    client.force_login(staff)
    assert client.get(domain_url(domain)).status_code == 200


def test_the_sitemap_tree_nests_children_under_robots_and_their_index(owner_client, domain):
    orphan = SitemapFile.objects.create(domain=domain, url="https://site1.example.com/sitemap.xml",
                                        found_by=FoundBy.WELL_KNOWN, kind=SitemapKind.URLSET, http_status=404,
                                        error="HTTP 404")
    page = get_page(owner_client, domain)
    tree = page.split('id="sitemap-tree"')[1].split("</table>")[0]
    assert tree.index("robots.txt") < tree.index("sitemap_index.xml") < tree.index("posts.xml") < tree.index(orphan.url)
    index_cell = '<td class="url" style="--depth: 1"><span class="node"><span class="branch">└</span><a href="{}"'
    assert index_cell.format("https://site1.example.com/sitemap_index.xml") in tree
    assert '<td class="url" style="--depth: 2">' in tree and '<td class="url" style="--depth: 0">' in tree
    assert "Sitemap index" in tree and "URL set" in tree and "Well-known path" in tree and "HTTP 404" in tree
    assert "500\xa0bytes" in tree and "40 ms" in tree


def test_the_url_table_lists_urls_in_order_with_their_fields(owner_client, domain):
    page = get_page(owner_client, domain)
    assert shown_locs(page) == [f"https://site1.example.com/post/{i}" for i in range(5)]
    assert 'title="2024-03-15T12:00:00+00:00">2024-03-15</td>' in page and "weekly" in page and "/posts.xml" in page


def test_a_failed_domain_shows_its_error(owner_client, batch):
    failed = batch.domains.get(position=2)
    page = get_page(owner_client, failed)
    assert "<strong>Failed:</strong> https://site2.example.com: connection refused" in page
    assert "No URL stored." in page


def test_search_keeps_urls_that_contain_the_text(owner_client, domain):
    insert_urls(domain.pk, None, [UrlRecord("https://site1.example.com/About-Us")])
    assert shown_locs(get_page(owner_client, domain, q="post/3")) == ["https://site1.example.com/post/3"]
    assert shown_locs(get_page(owner_client, domain, q="about")) == ["https://site1.example.com/About-Us"]
    page = get_page(owner_client, domain, q="nothing-like-this")
    assert shown_locs(page) == [] and "No URL matches." in page


def test_urls_filter_by_sitemap_and_lastmod_range(owner_client, domain):
    other = SitemapFile.objects.create(domain=domain, url="https://site1.example.com/pages.xml",
                                       found_by=FoundBy.ROBOTS, kind=SitemapKind.URLSET, url_count=1)
    insert_urls(domain.pk, other.pk, [UrlRecord("https://site1.example.com/contact")])
    assert shown_locs(get_page(owner_client, domain, sitemap=other.pk)) == ["https://site1.example.com/contact"]
    # lastmods are 2024-01-15, 02-15, 03-15, 04-15, 05-15; both ends are inclusive days.
    in_range = shown_locs(get_page(owner_client, domain, lastmod_from="2024-02-15", lastmod_to="2024-04-15"))
    assert in_range == [f"https://site1.example.com/post/{i}" for i in (1, 2, 3)]


def test_an_impossible_filter_is_explained_and_all_urls_are_shown(owner_client, domain):
    page = get_page(owner_client, domain, lastmod_from="2024-05-01", lastmod_to="2024-01-01")
    assert "The lastmod range ends before it starts." in page
    assert len(shown_locs(page)) == 5
    page = get_page(owner_client, domain, lastmod_from="not-a-date")
    assert "Enter a valid date." in page


def test_url_pages_go_forward_and_back_by_keyset(owner_client, owner):
    batch = make_batch(owner, name="Big", domains=1, urls_per_domain=250)
    domain = batch.domains.get()
    ids = list(Url.objects.filter(domain=domain).order_by("pk").values_list("pk", flat=True))
    first = get_page(owner_client, domain)
    assert len(shown_locs(first)) == 100 and f"after={ids[99]}" in first
    second = get_page(owner_client, domain, after=ids[99])
    assert shown_locs(second)[0].endswith("/post/100") and f"before={ids[100]}" in second
    third = get_page(owner_client, domain, after=ids[199])
    assert len(shown_locs(third)) == 50 and 'class="disabled">Next' in third
    back = get_page(owner_client, domain, before=ids[100])
    assert shown_locs(back) == shown_locs(first) and 'class="disabled">‹ Previous' in back


def test_a_search_reads_a_bounded_stretch_and_offers_to_search_further(owner_client, owner, monkeypatch):
    monkeypatch.setattr("batches.views.URL_SEARCH_STRETCH", 100)
    batch = make_batch(owner, name="Big", domains=1, urls_per_domain=250)
    domain = batch.domains.get()
    ids = list(Url.objects.filter(domain=domain).order_by("pk").values_list("pk", flat=True))
    page = get_page(owner_client, domain, q="/post/24")  # matches post/24 and post/240-249
    assert shown_locs(page) == ["https://site1.example.com/post/24"]
    assert "Searched 100 URLs and found 1 match here" in page and f"after={ids[99]}" in page
    assert "Search further" in page
    page = get_page(owner_client, domain, q="/post/24", after=ids[99])
    assert shown_locs(page) == [] and "No URL matches in this stretch." in page
    page = get_page(owner_client, domain, q="/post/24", after=ids[199])
    assert shown_locs(page) == [f"https://site1.example.com/post/24{i}" for i in range(10)]
    assert 'class="disabled">Next' in page and f"before={ids[240]}" in page
    # Backward, a stretch at a time, to the first match.
    page = get_page(owner_client, domain, q="/post/24", before=ids[240])
    assert shown_locs(page) == [] and f"before={ids[140]}" in page
    page = get_page(owner_client, domain, q="/post/24", before=ids[140])
    assert shown_locs(page) == [] and f"before={ids[40]}" in page
    page = get_page(owner_client, domain, q="/post/24", before=ids[40])
    assert shown_locs(page) == ["https://site1.example.com/post/24"] and 'class="disabled">‹ Previous' in page


def test_the_domain_page_runs_a_fixed_number_of_queries(owner_client, owner, django_assert_num_queries):
    small = make_batch(owner, name="Small", domains=1, urls_per_domain=3).domains.get()
    big = make_batch(owner, name="Big", domains=1, urls_per_domain=400).domains.get()
    for domain in (small, big):
        # session, user, batch, domain, sitemap files, reused sitemaps (re-runs), findings, page of URLs
        with django_assert_num_queries(8):
            owner_client.get(domain_url(domain))
        # a filtered page also finds where its stretch of ids ends, and counts its matches
        # (domains of at most URL_SEARCH_STRETCH URLs); the findings list is one more
        with django_assert_num_queries(10):
            owner_client.get(domain_url(domain), {"q": "post", "lastmod_from": "2024-01-01"})


def test_the_chart_draws_a_bar_per_month_with_its_count(owner_client, domain):
    response = owner_client.get(reverse("domain_chart", args=[domain.batch_id, domain.pk]))
    svg = response.content.decode()
    assert response["Content-Type"] == "image/svg+xml"
    assert svg.count("<rect") == 5
    assert "<title>Jan 2024: 1 URLs</title>" in svg and "<title>May 2024: 1 URLs</title>" in svg


def test_the_chart_fills_gaps_and_switches_to_years_for_long_spans(owner_client, domain):
    from datetime import datetime, timezone

    insert_urls(domain.pk, None, [UrlRecord("https://site1.example.com/old", datetime(2010, 6, 1, tzinfo=timezone.utc))])
    svg = owner_client.get(reverse("domain_chart", args=[domain.batch_id, domain.pk])).content.decode()
    assert svg.count("<rect") == 15  # 2010 .. 2024
    assert "<title>2010: 1 URLs</title>" in svg and "<title>2015: 0 URLs</title>" in svg
    assert "<title>2024: 5 URLs</title>" in svg


def test_the_chart_says_when_no_url_has_a_date(owner_client, batch):
    failed = batch.domains.get(position=2)
    svg = owner_client.get(reverse("domain_chart", args=[batch.pk, failed.pk])).content.decode()
    assert "No URL stored yet" in svg and "<rect" not in svg


# --- Reading URLs (issue 14, item 12) -------------------------------------------------------

@pytest.fixture
def blog(owner):
    """One domain whose sitemap lists blog/0 .. blog/11 in that order, lastmod rising with the number."""
    batch = make_batch(owner, name="Blog", domains=1, urls_per_domain=12)
    domain = batch.domains.get()
    for url in Url.objects.filter(domain=domain):
        url.loc = url.loc.replace("/post/", "/blog/")
        url.save()
    return domain


def test_urls_come_in_sitemap_order_not_as_text(owner_client, blog):
    locs = shown_locs(get_page(owner_client, blog))
    assert [loc.rsplit("/", 1)[1] for loc in locs] == [str(n) for n in range(12)]


def test_urls_sort_by_column_on_numbered_pages(owner_client, blog, monkeypatch):
    monkeypatch.setattr("batches.views.URLS_PER_PAGE", 5)
    by_text = get_page(owner_client, blog, order="loc")
    assert [loc.rsplit("/", 1)[1] for loc in shown_locs(by_text)] == ["0", "1", "10", "11", "2"]
    assert "Page 1 of 3" in by_text and "?order=loc&amp;page=3#urls" in by_text and "URL ▲" in by_text
    last = get_page(owner_client, blog, order="loc", page=3)
    assert [loc.rsplit("/", 1)[1] for loc in shown_locs(last)] == ["8", "9"]
    newest = get_page(owner_client, blog, order="-lastmod")
    assert [loc.rsplit("/", 1)[1] for loc in shown_locs(newest)] == ["11", "10", "9", "8", "7"]
    assert "Last modified ▼" in newest


def test_a_search_shows_how_many_urls_match(owner_client, blog):
    page = get_page(owner_client, blog, q="blog/1")
    assert '<span class="muted small-print" id="match-count">3 matches</span>' in page
    assert len(shown_locs(page)) == 3


def test_sitemap_order_offers_the_last_page(owner_client, owner):
    batch = make_batch(owner, name="Big", domains=1, urls_per_domain=250)
    domain = batch.domains.get()
    first = get_page(owner_client, domain)
    link = re.search(r'<a href="\?before=(\d+)#urls">Last »</a>', first)
    last = get_page(owner_client, domain, before=link.group(1))
    assert shown_locs(last)[0].endswith("/post/150") and len(shown_locs(last)) == 100


def test_an_international_host_is_shown_in_unicode_beside_its_punycode(owner_client, owner):
    batch = make_batch(owner, domains=1, urls_per_domain=1)
    batch.domains.update(host="xn--bcher-kva.de", origin="https://xn--bcher-kva.de")
    domain = batch.domains.get()
    assert '<span class="muted" id="unicode-host">bücher.de</span>' in get_page(owner_client, domain)
    batch_page = owner_client.get(reverse("batch_detail", args=[batch.pk])).content.decode()
    assert 'xn--bcher-kva.de</a> <span class="muted small-print">bücher.de</span>' in batch_page


def test_a_missing_page_is_a_404_inside_the_site_layout(owner_client):
    response = owner_client.get("/batches/999999/")
    page = response.content.decode()
    assert response.status_code == 404
    assert 'class="topbar"' in page and "Your batches" in page and "Log out" in page
