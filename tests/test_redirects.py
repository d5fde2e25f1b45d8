"""Redirects, followed by the engine hop by hop: a 3xx body is never read whole nor decoded,
and a hop that lands on a sitemap the crawl reads anyway is not downloaded again."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from batches.sitemaps import CrawlConfig
from tests.sites import crawl, sitemapindex, streaming, urlset, zero_bomb

LOCAL = CrawlConfig(allow_private_hosts=True, retries=0, probe_well_known=False)
GIB = 1024 * 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent

# Crawls one host in a fresh interpreter and prints its peak RSS (MiB), then the URLs found.
# VmHWM, not getrusage: ru_maxrss survives exec, so it would report the forking test process.
CRAWL_AND_MEASURE = """
import re, sys
from batches.sitemaps import CrawlConfig, UrlChunk, crawl_domain
config = CrawlConfig(allow_private_hosts=True, retries=0, probe_well_known=False, request_deadline=60)
events = list(crawl_domain(sys.argv[1], config, scheme="http"))
with open("/proc/self/status") as status:
    print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) // 1024)
print(sorted(record.loc for event in events if isinstance(event, UrlChunk) for record in event.urls))
print(repr(events[-1].error))
"""


def crawl_in_a_subprocess(site):
    done = subprocess.run([sys.executable, "-c", CRAWL_AND_MEASURE, site.host], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    peak, urls, error = done.stdout.splitlines()
    return int(peak), eval(urls), eval(error)


def test_it_never_inflates_a_redirect_body_whatever_its_content_encoding(site):
    # robots.txt answers 302 with 2 MB of gzipped zeros (2 GiB inflated); a sitemap's hop
    # answers 302 with a plain 2 GiB body. Reading either whole used to take GiBs of memory.
    site.add("/robots.txt", handler=streaming_redirect(zero_bomb(2 * GIB), "/robots-real.txt",
                                                       {"Content-Encoding": "gzip"}))
    site.add("/robots-real.txt", f"Sitemap: {site.url('/hop.xml')}\n", content_type="text/plain")
    site.add("/hop.xml", handler=streaming(2 * GIB, {"Location": "/final.xml", "Content-Type": "text/html"}, status=302))
    site.add("/final.xml", urlset([site.url("/page")]))
    peak, urls, error = crawl_in_a_subprocess(site)
    assert (urls, error) == ([site.url("/page")], "")
    assert peak < 150, f"peak RSS {peak} MiB"


def streaming_redirect(body, location, headers):
    def handle(request):
        request.send_response(302)
        request.send_header("Location", location)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        try:
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handle


def test_it_reuses_the_connection_after_a_short_redirect(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/old.xml')}\n", content_type="text/plain")
    site.redirect("/old.xml", "/new.xml")
    site.add("/new.xml", urlset([site.url("/a")]))
    found = crawl(site, replace(LOCAL, concurrency=1))
    assert set(found.urls) == {site.url("/a")}
    assert site.connections == 1


def test_it_records_where_the_redirects_landed(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/old.xml')}\nSitemap: {site.url('/same.xml')}\n")
    site.redirect("/old.xml", "/middle.xml", status=302)
    site.redirect("/middle.xml", site.url("/new.xml"), status=308)
    site.add("/new.xml", urlset([site.url("/a")]))
    site.add("/same.xml", urlset([site.url("/b")]))
    found = crawl(site, LOCAL)
    assert found.finished(site.url("/old.xml")).final_url == site.url("/new.xml")
    assert found.finished(site.url("/same.xml")).final_url == site.url("/same.xml")


def test_it_downloads_once_two_index_children_that_redirect_to_one_final_url(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/index.xml')}\n")
    site.add("/index.xml", sitemapindex([site.url("/one.xml"), site.url("/two.xml")]))
    site.redirect("/one.xml", "/final.xml")
    site.redirect("/two.xml", "/final.xml")
    site.add("/final.xml", urlset([site.url("/a")]))
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/a")}
    assert site.hits["/final.xml"] == 1
    assert sum(found.finished(url).url_count for url in found.sitemaps) == 1


def test_it_downloads_once_a_sitemap_named_in_two_spellings(site):
    spellings = [f"http://localhost:{site.port}/a.xml", f"http://LocalHost:{site.port}/a.xml"]
    site.add("/robots.txt", "".join(f"Sitemap: {url}\n" for url in spellings))
    site.add("/a.xml", urlset([site.url("/a")]))
    found = crawl(site, LOCAL)
    assert site.hits["/a.xml"] == 1
    assert set(found.sitemaps) == {spellings[0]}  # the first spelling the site used is kept


def test_it_does_not_request_a_hop_that_lands_on_a_sitemap_being_read(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/a.xml')}\nSitemap: {site.url('/b.xml')}\n")
    site.add("/a.xml", urlset([site.url("/a")]))
    site.redirect("/b.xml", "/a.xml")
    found = crawl(site, LOCAL)
    assert site.hits["/a.xml"] == 1 and site.hits["/b.xml"] == 1
    assert set(found.sitemaps) == {site.url("/a.xml")}
