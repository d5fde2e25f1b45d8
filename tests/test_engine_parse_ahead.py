"""Parse-ahead with many crawls at once: every URL a sitemap lists reaches the caller."""

import queue
import threading

from batches.sitemaps import CrawlConfig, SitemapFinished, UrlChunk, crawl_domain
from tests.sites import Route

URLSET = ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
          + "".join(f"<url><loc>http://a.example/page/{n}</loc></url>" for n in range(100)) + "</urlset>")


def test_it_loses_no_url_chunk_when_many_crawls_parse_ahead_behind_a_slow_consumer(site_factory):
    # Before the fix a caller's half-done dispatch let the helper finish the same sitemap first:
    # its records were counted on the sitemap row but never sent (one domain in 200 under load).
    site = site_factory(address="0.0.0.0", latency=0.02)
    site.routes["/robots.txt"] = Route(b"User-agent: *\nSitemap: /sitemap-a.xml\n")
    site.routes["/sitemap-a.xml"] = Route(URLSET.encode(), headers={"Content-Type": "application/xml"})
    hosts = [f"127.0.{1 + n // 250}.{1 + n % 250}:{site.port}" for n in range(160)]
    config = CrawlConfig(allow_private_hosts=True, parse_ahead=True, retries=0, probe_well_known=False)
    events = queue.Queue(16)  # the worker's writer: bounded, and slow on every chunk
    sent, listed = {}, {}
    slots = threading.Semaphore(32)

    def crawl(host):
        with slots:
            for event in crawl_domain(host, config):
                events.put((host, event))
        events.put((host, None))

    threads = [threading.Thread(target=crawl, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    ended = 0
    while ended < len(hosts):
        host, event = events.get(timeout=60)
        if event is None:
            ended += 1
        elif isinstance(event, UrlChunk):
            sent[host] = sent.get(host, 0) + len(event.urls)
            threading.Event().wait(0.003)
        elif isinstance(event, SitemapFinished):
            listed[host] = listed.get(host, 0) + event.url_count
    for thread in threads:
        thread.join(timeout=60)
    assert listed == {host: 100 for host in hosts}
    assert sent == listed
