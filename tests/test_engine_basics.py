"""The engine on its own (no database): discovery, indexes, formats, the address guard."""

from batches.sitemaps import CrawlConfig, CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk, crawl_domain
from tests.sites import sitemapindex, urlset

LOCAL = CrawlConfig(allow_private_hosts=True, retries=0)


def crawl(site, config=LOCAL, scheme="http"):
    events = list(crawl_domain(site.host, config, scheme=scheme))
    started = {e.key: e for e in events if isinstance(e, SitemapStarted)}
    finished = {e.key: e for e in events if isinstance(e, SitemapFinished)}
    urls = {}
    for event in events:
        if isinstance(event, UrlChunk):
            for record in event.urls:
                urls[record.loc] = record
    result = events[-1]
    assert isinstance(result, CrawlFinished)
    sitemaps = {started[k].url: (started[k], finished[k]) for k in started}
    return sitemaps, urls, result


def test_it_follows_robots_to_an_index_and_reads_every_child(site):
    site.add("/robots.txt", f"User-agent: *\nDisallow: /x\nSitemap: {site.url('/index.xml')}\n", content_type="text/plain")
    site.add("/index.xml", sitemapindex([site.url("/a.xml"), site.url("/b.xml.gz")]))
    site.add("/a.xml", urlset([site.url("/a1"), site.url("/a2")]))
    site.add("/b.xml.gz", urlset([site.url("/b1")]), gzipped=True, content_type="application/octet-stream")

    sitemaps, urls, result = crawl(site)

    assert set(urls) == {site.url("/a1"), site.url("/a2"), site.url("/b1")}
    index_started, index_finished = sitemaps[site.url("/index.xml")]
    assert (index_started.found_by, index_finished.kind) == ("robots", "index")
    child_started, child_finished = sitemaps[site.url("/b.xml.gz")]
    assert (child_started.found_by, child_started.parent_key) == ("index", index_started.key)
    assert (child_finished.kind, child_finished.compressed, child_finished.url_count) == ("urlset", True, 1)
    assert result.error == "" and result.urls == 3 and result.sitemaps == 3


def test_a_domain_without_any_sitemap_is_done_with_no_urls(site):
    sitemaps, urls, result = crawl(site)
    assert (sitemaps, urls) == ({}, {})
    assert result.error == ""
    assert result.origin == site.origin


def test_an_html_soft_404_at_a_well_known_path_is_not_recorded(site):
    site.add("/sitemap.xml", "<!DOCTYPE html><html><body>Page not found</body></html>", content_type="text/html")
    sitemaps, urls, result = crawl(site)
    assert sitemaps == {} and urls == {} and result.error == ""


def test_an_index_that_lists_itself_terminates(site):
    site.add("/sitemap.xml", sitemapindex([site.url("/sitemap.xml"), site.url("/a.xml")]))
    site.add("/a.xml", urlset([site.url("/a1")]))
    sitemaps, urls, result = crawl(site)
    assert set(urls) == {site.url("/a1")}
    assert set(sitemaps) == {site.url("/sitemap.xml"), site.url("/a.xml")}
    assert site.hits["/sitemap.xml"] == 1


def test_the_address_guard_refuses_loopback_by_default(site):
    site.add("/sitemap.xml", urlset([site.url("/a1")]))
    sitemaps, urls, result = crawl(site, CrawlConfig(retries=0))
    assert urls == {}
    assert result.error == (
        f"{site.origin}: refused to fetch 127.0.0.1: it is not a public address"
    )
    assert site.hits["/sitemap.xml"] == 0


def test_a_listed_sitemap_that_is_missing_is_recorded_with_its_error_while_siblings_are_read(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/gone.xml')}\nSitemap: {site.url('/ok.xml')}\n")
    site.add("/ok.xml", urlset([site.url("/ok")]))
    sitemaps, urls, result = crawl(site)
    assert set(urls) == {site.url("/ok")}
    assert sitemaps[site.url("/gone.xml")][1].error == "HTTP 404"
    assert sitemaps[site.url("/gone.xml")][1].http_status == 404
    assert result.error == "" and result.sitemaps_failed == 1
