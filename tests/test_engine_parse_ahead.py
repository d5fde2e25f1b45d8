"""Parse-ahead: a helper thread parses a big sitemap while the caller stores; every URL a
sitemap lists reaches the caller, also with many crawls at once; small sitemaps stay serial."""

import queue
import sys
import threading
import time

from batches.sitemaps import CrawlConfig, SitemapFinished, UrlChunk, crawl_domain
from batches.sitemaps import engine
from tests.sites import Route, urlset

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


def _crawl_watching_helpers(site, config, pause=0.0):
    """(locs in the order they arrived, most parse-ahead helpers seen alive at once)."""
    locs, helpers = [], 0
    for event in crawl_domain(site.host, config, scheme="http"):
        helpers = max(helpers, sum(t.name == "sitemap-parse-ahead" for t in threading.enumerate()))
        if isinstance(event, UrlChunk):
            locs.extend(record.loc for record in event.urls)
            time.sleep(pause)  # the caller storing the chunk
    return locs, helpers


def _listing(site, path, count):
    site.routes["/robots.txt"] = Route(f"User-agent: *\nSitemap: {path}\n".encode())
    site.add(path, urlset([site.url(f"/page/{n}") for n in range(count)]))


def test_a_small_sitemap_stays_serial_with_parse_ahead_on(site):
    _listing(site, "/small.xml", 500)
    config = CrawlConfig(allow_private_hosts=True, parse_ahead=True, retries=0, probe_well_known=False, chunk_size=100)
    locs, helpers = _crawl_watching_helpers(site, config, pause=0.01)
    assert (len(locs), helpers) == (500, 0)


def test_a_big_sitemap_is_parsed_ahead_by_one_helper_in_the_order_it_lists_its_urls(site):
    _listing(site, "/big.xml", 40_000)
    assert len(site.routes["/big.xml"].body) > 2 * engine.PARSE_AHEAD_BYTES
    config = CrawlConfig(allow_private_hosts=True, parse_ahead=True, retries=0, probe_well_known=False, chunk_size=2000)
    locs, helpers = _crawl_watching_helpers(site, config, pause=0.01)
    assert locs == [site.url(f"/page/{n}") for n in range(40_000)]
    assert helpers == 1


def test_each_chunk_is_prepared_where_it_was_parsed_after_the_url_limit_cut_it(site):
    # CrawlConfig.prepare_chunk: the store's keys and row text, made on the helper while the
    # caller stores, and made of exactly the URLs the chunk carries
    _listing(site, "/big.xml", 40_000)

    def prepare(records):
        return threading.current_thread().name, [record.loc for record in records]

    config = CrawlConfig(allow_private_hosts=True, parse_ahead=True, retries=0, probe_well_known=False,
                         chunk_size=2000, max_urls=39_500, prepare_chunk=prepare)
    chunks = []
    for event in crawl_domain(site.host, config, scheme="http"):
        if isinstance(event, UrlChunk):
            chunks.append(event)
            time.sleep(0.01)  # the caller storing the chunk
    assert [chunk.prepared[1] for chunk in chunks] == [[record.loc for record in chunk.urls] for chunk in chunks]
    assert sum(len(chunk.urls) for chunk in chunks) == 39_500
    assert chunks[-1].urls[-1].loc == site.url("/page/39499")  # cut at the limit, then prepared
    threads = {chunk.prepared[0] for chunk in chunks}
    assert threads == {threading.current_thread().name, "sitemap-parse-ahead"}


def test_the_caller_takes_what_the_helper_made_while_the_helper_is_still_preparing_the_next_chunk(site):
    # The caller does not wait for the turn while `ready` holds events: with a preparer slower
    # than the caller, both threads still hand over every URL once, in the site's order, with
    # the sitemap's end after its last chunk.
    _listing(site, "/big.xml", 40_000)
    prepared = []

    def prepare(records):
        time.sleep(0.02)  # a slow store's work, on whichever thread holds the turn
        prepared.append(records[0].loc)
        return len(records)

    config = CrawlConfig(allow_private_hosts=True, parse_ahead=True, retries=0, probe_well_known=False,
                         chunk_size=1000, prepare_chunk=prepare)
    events = []
    for event in crawl_domain(site.host, config, scheme="http"):
        events.append(event)
        if isinstance(event, UrlChunk):
            time.sleep(0.005)
    chunks = [event for event in events if isinstance(event, UrlChunk)]
    assert [record.loc for chunk in chunks for record in chunk.urls] == [site.url(f"/page/{n}") for n in range(40_000)]
    assert [chunk.prepared for chunk in chunks] == [len(chunk.urls) for chunk in chunks]
    assert len(chunks) > 20
    assert prepared == [chunk.urls[0].loc for chunk in chunks]  # each prepared once, in order
    finished = [position for position, event in enumerate(events) if isinstance(event, SitemapFinished)]
    assert len(finished) == 1 and finished[0] > events.index(chunks[-1])


def test_the_gil_switches_sooner_while_a_helper_parses_and_as_before_once_it_is_gone(site):
    _listing(site, "/big.xml", 40_000)
    config = CrawlConfig(allow_private_hosts=True, parse_ahead=True, retries=0, probe_well_known=False, chunk_size=2000)
    before = sys.getswitchinterval()
    seen = set()
    for event in crawl_domain(site.host, config, scheme="http"):
        if isinstance(event, UrlChunk):
            helpers = [thread for thread in threading.enumerate() if thread.name == "sitemap-parse-ahead"]
            seen.add((bool(helpers), sys.getswitchinterval()))
            time.sleep(0.01)  # the caller storing the chunk
    for thread in threading.enumerate():
        if thread.name == "sitemap-parse-ahead":
            thread.join(timeout=10)
    assert (True, engine.HELPER_SWITCH_INTERVAL) in seen
    assert sys.getswitchinterval() == before == 0.005
