"""The engine on a re-run: conditional requests and index children whose lastmod did not move."""

from dataclasses import replace
from datetime import datetime, timezone

from batches.sitemaps import CrawlConfig, PreviousSitemap
from tests.sites import crawl, sitemapindex, urlset

LOCAL = CrawlConfig(allow_private_hosts=True, retries=0, probe_well_known=False)
JUNE = datetime(2024, 6, 1, tzinfo=timezone.utc)


def _robots(site, *paths):
    lines = "".join(f"Sitemap: {site.url(path)}\n" for path in paths)
    site.add("/robots.txt", lines, content_type="text/plain")


def test_it_sends_the_previous_etag_and_reports_a_304_as_unchanged(site):
    _robots(site, "/a.xml")
    site.add("/a.xml", urlset([site.url("/a1")]), headers={"ETag": '"v1"'})
    config = replace(LOCAL, previous={site.url("/a.xml"): PreviousSitemap(etag='"v1"')})

    result = crawl(site, config)

    finished = result.finished(site.url("/a.xml"))
    assert (finished.unchanged, finished.http_status, finished.url_count, finished.error) == (True, 304, 0, "")
    assert result.urls == {}
    assert site.requests_for("/a.xml")[0]["If-None-Match"] == '"v1"'
    assert (result.result.sitemaps, result.result.sitemaps_failed, result.result.error) == (1, 0, "")


def test_it_sends_if_modified_since_and_reads_a_changed_sitemap_with_its_new_validators(site):
    _robots(site, "/a.xml")
    site.add("/a.xml", urlset([site.url("/a1")]),
             headers={"ETag": '"v2"', "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"})
    config = replace(LOCAL, previous={site.url("/a.xml"): PreviousSitemap(
        etag='"v1"', last_modified="Mon, 30 Nov 2026 10:00:00 GMT")})

    result = crawl(site, config)

    finished = result.finished(site.url("/a.xml"))
    assert (finished.unchanged, finished.http_status, finished.url_count) == (False, 200, 1)
    assert (finished.etag, finished.last_modified) == ('"v2"', "Tue, 01 Dec 2026 10:00:00 GMT")
    headers = site.requests_for("/a.xml")[0]
    assert (headers["If-None-Match"], headers["If-Modified-Since"]) == ('"v1"', "Mon, 30 Nov 2026 10:00:00 GMT")


def test_it_sends_no_conditional_header_without_a_previous_run(site):
    _robots(site, "/a.xml")
    site.add("/a.xml", urlset([site.url("/a1")]), headers={"ETag": '"v1"'})

    result = crawl(site, LOCAL)

    assert result.finished(site.url("/a.xml")).unchanged is False
    assert "If-None-Match" not in site.requests_for("/a.xml")[0]


def test_it_skips_an_index_child_whose_lastmod_did_not_move_without_downloading_it(site):
    _robots(site, "/index.xml")
    same, moved = site.url("/same.xml"), site.url("/moved.xml")
    site.add("/index.xml", sitemapindex([same, moved], {same: "2024-06-01", moved: "2024-07-01"}))
    site.add("/same.xml", urlset([site.url("/s1")]))
    site.add("/moved.xml", urlset([site.url("/m1")]))
    previous = {same: PreviousSitemap(lastmod=JUNE), moved: PreviousSitemap(lastmod=JUNE)}

    result = crawl(site, replace(LOCAL, previous=previous))

    assert result.finished(same).unchanged is True
    assert result.started(same).parent_key == result.started(site.url("/index.xml")).key
    assert result.finished(moved).unchanged is False
    assert set(result.urls) == {site.url("/m1")}
    assert site.hits["/same.xml"] == 0 and site.hits["/moved.xml"] == 1


def test_it_downloads_an_unmoved_child_when_index_lastmod_is_not_trusted(site):
    _robots(site, "/index.xml")
    same = site.url("/same.xml")
    site.add("/index.xml", sitemapindex([same], {same: "2024-06-01"}))
    site.add("/same.xml", urlset([site.url("/s1")]))
    config = replace(LOCAL, previous={same: PreviousSitemap(lastmod=JUNE)}, trust_index_lastmod=False)

    result = crawl(site, config)

    assert result.finished(same).unchanged is False
    assert set(result.urls) == {site.url("/s1")}
