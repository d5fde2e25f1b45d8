"""Transport and bounds: compression in every disguise, bombs, slow servers, retries, deadlines, caps."""

import gzip
import time
import zlib
from dataclasses import replace

from batches.sitemaps import CrawlConfig
from tests.sites import answering, crawl, dripping, raw, sitemapindex, urlset

LOCAL = CrawlConfig(allow_private_hosts=True, retries=0, probe_well_known=False)
MIB = 1024 * 1024


def listed(site, *paths):
    site.add("/robots.txt", "".join(f"Sitemap: {site.url(path)}\n" for path in paths), content_type="text/plain")


def test_gzip_is_recognised_by_its_magic_bytes_whatever_the_name_or_type(site):
    listed(site, "/sitemap.xml", "/feed")
    site.add("/sitemap.xml", urlset([site.url("/a")]), gzipped=True, content_type="text/xml")
    site.add("/feed", site.url("/b") + "\n", gzipped=True, content_type="text/html")
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/a"), site.url("/b")}
    assert found.finished(site.url("/sitemap.xml")).compressed is True


def test_a_gz_name_holding_plain_xml_still_parses(site):
    listed(site, "/sitemap.xml.gz")
    site.add("/sitemap.xml.gz", urlset([site.url("/a")]), content_type="application/x-gzip")
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/a")}
    assert found.finished(site.url("/sitemap.xml.gz")).compressed is False


def test_content_encoding_is_undone_in_every_form_servers_send(site):
    body = urlset([site.url("/x")]).encode()
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = deflater.compress(body) + deflater.flush()
    listed(site, "/gzip.xml", "/zlib.xml", "/raw-deflate.xml", "/double.xml.gz", "/lying.xml")
    site.add("/gzip.xml", gzip.compress(body), headers={"Content-Encoding": "gzip"})
    site.add("/zlib.xml", zlib.compress(body), headers={"Content-Encoding": "deflate"})
    site.add("/raw-deflate.xml", raw_deflate, headers={"Content-Encoding": "deflate"})
    site.add("/double.xml.gz", gzip.compress(gzip.compress(body)), headers={"Content-Encoding": "gzip"})
    site.add("/lying.xml", body, headers={"Content-Encoding": "gzip"})  # says gzip, sends plain
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/x")}
    for path in ("/gzip.xml", "/zlib.xml", "/raw-deflate.xml", "/double.xml.gz", "/lying.xml"):
        finished = found.finished(site.url(path))
        assert (finished.kind, finished.url_count, finished.error, finished.bytes) == ("urlset", 1, "", len(body)), path


def test_a_truncated_gzip_file_keeps_the_urls_before_the_cut(site):
    body = gzip.compress(urlset([site.url(f"/u{n}") for n in range(2000)]).encode())
    listed(site, "/cut.xml.gz")
    site.add("/cut.xml.gz", body[: len(body) // 2])
    found = crawl(site, LOCAL)
    finished = found.finished(site.url("/cut.xml.gz"))
    assert finished.error == "truncated gzip stream"
    assert 0 < len(found.urls) < 2000 and finished.url_count == len(found.urls)
    assert set(found.urls) == {site.url(f"/u{n}") for n in range(len(found.urls))}
    assert found.result.error == ""


def _bomb(site, megabytes):
    entry = f"<url><loc>{site.url('/b')}</loc></url>".encode()
    head = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = entry * (MIB // len(entry))
    parts = [compressor.compress(head)] + [compressor.compress(block) for _ in range(megabytes)]
    return b"".join(parts) + compressor.flush()


def test_a_gzip_bomb_stops_at_the_size_cap_while_inflating(site):
    bomb = _bomb(site, 64)
    assert len(bomb) < MIB // 4
    listed(site, "/bomb.xml.gz")
    site.add("/bomb.xml.gz", bomb)
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, max_sitemap_bytes=MIB))
    assert time.monotonic() - started < 3
    finished = found.finished(site.url("/bomb.xml.gz"))
    assert finished.error == "larger than the 1,048,576 byte limit (after decompression)"
    assert finished.bytes == MIB and finished.url_count > 0
    assert set(found.urls) == {site.url("/b")}


def test_a_content_encoding_bomb_stops_at_the_same_cap(site):
    listed(site, "/bomb.xml")
    site.add("/bomb.xml", _bomb(site, 64), headers={"Content-Encoding": "gzip"})
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, max_sitemap_bytes=MIB))
    assert time.monotonic() - started < 3
    assert found.finished(site.url("/bomb.xml")).error == "larger than the 1,048,576 byte limit (after decompression)"


def test_a_plain_file_over_the_cap_is_cut_there_too(site):
    listed(site, "/big.xml")
    site.add("/big.xml", urlset([site.url(f"/{n}") for n in range(100)]))
    found = crawl(site, replace(LOCAL, max_sitemap_bytes=1000))
    finished = found.finished(site.url("/big.xml"))
    assert finished.error == "larger than the 1,000 byte limit (after decompression)"
    assert finished.bytes == 1000 and 0 < len(found.urls) < 100


def test_a_server_dripping_bytes_is_cut_off_at_the_request_deadline(site):
    head = urlset([site.url("/early")]).replace("</urlset>", "").encode()
    listed(site, "/drip.xml")
    site.add("/drip.xml", handler=dripping("<url><loc>never</loc></url>" * 100, 0.05, first=head))
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, request_deadline=1, read_timeout=5))
    assert time.monotonic() - started < 3
    finished = found.finished(site.url("/drip.xml"))
    assert finished.error == "download took longer than 1 s"
    assert set(found.urls) == {site.url("/early")}


def test_a_slow_child_does_not_stop_its_siblings(site):
    children = [site.url(f"/fast{n}.xml") for n in range(3)] + [site.url("/slow.xml")]
    listed(site, "/index.xml")
    site.add("/index.xml", sitemapindex([children[3]] + children[:3]))
    site.add("/slow.xml", urlset([site.url("/slow")]), delay=3)
    for n in range(3):
        site.add(f"/fast{n}.xml", urlset([site.url(f"/f{n}")]))
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, request_deadline=1, concurrency=2))
    assert time.monotonic() - started < 2.5
    assert set(found.urls) == {site.url(f"/f{n}") for n in range(3)}
    assert found.finished(site.url("/slow.xml")).error == "download took longer than 1 s"


def test_the_domain_deadline_ends_the_crawl_and_is_noted(site):
    listed(site, "/forever.xml", "/quick.xml")
    site.add("/forever.xml", handler=dripping("x" * 1000, 0.05, first=b"<urlset>"))
    site.add("/quick.xml", urlset([site.url("/q")]))
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, domain_deadline=1))
    assert time.monotonic() - started < 2.5
    assert set(found.urls) == {site.url("/q")}
    assert found.finished(site.url("/forever.xml")).error == "stopped at the domain time limit of 1 s"
    assert found.result.notes == ["stopped at the domain time limit of 1 s"]
    assert found.result.error == ""


def test_429_and_5xx_are_retried_with_retry_after_and_then_read(site):
    listed(site, "/busy.xml")
    site.add("/busy.xml", handler=answering(
        (503, "", {"Retry-After": "0"}), (429, "", {"Retry-After": "0"}), (200, urlset([site.url("/b")]), {})))
    found = crawl(site, replace(LOCAL, retries=2))
    assert set(found.urls) == {site.url("/b")}
    assert site.hits["/busy.xml"] == 3
    assert found.finished(site.url("/busy.xml")).http_status == 200


def test_retries_are_bounded_and_back_off(site):
    listed(site, "/down.xml")
    site.add("/down.xml", "", status=502)
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, retries=2, retry_backoff=0.1))
    assert 0.3 <= time.monotonic() - started < 2  # 0.1 s, then 0.2 s
    assert site.hits["/down.xml"] == 3
    assert found.finished(site.url("/down.xml")).error == "HTTP 502"


def test_a_retry_after_beyond_the_domain_budget_is_not_waited_for(site):
    listed(site, "/later.xml")
    site.add("/later.xml", "", status=429, headers={"Retry-After": "60"})
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, retries=2, domain_deadline=5, max_retry_after=120))
    assert time.monotonic() - started < 1.5
    assert site.hits["/later.xml"] == 1
    assert found.finished(site.url("/later.xml")).error == "HTTP 429"


def test_the_sitemap_cap_stops_scheduling_and_is_noted(site):
    listed(site, "/index.xml")
    site.add("/index.xml", sitemapindex([site.url(f"/{n}.xml") for n in range(5)]))
    for n in range(5):
        site.add(f"/{n}.xml", urlset([site.url(f"/u{n}")]))
    found = crawl(site, replace(LOCAL, max_sitemaps=3))
    assert set(found.sitemaps) == {site.url("/index.xml"), site.url("/0.xml"), site.url("/1.xml")}
    assert set(found.urls) == {site.url("/u0"), site.url("/u1")}
    assert found.result.notes == ["stopped at the limit of 3 sitemaps per domain"]


def test_the_url_cap_stops_the_crawl_and_is_noted(site):
    listed(site, "/many.xml")
    site.add("/many.xml", urlset([site.url(f"/{n}") for n in range(50)]))
    found = crawl(site, replace(LOCAL, max_urls=20, chunk_size=10))
    assert set(found.urls) == {site.url(f"/{n}") for n in range(20)}
    assert found.result.urls == 20
    assert found.result.notes == ["stopped at the limit of 20 URLs per domain"]


def test_the_user_agent_is_the_configured_one(site):
    seen = []

    def remember(request):
        seen.append(request.headers.get("User-Agent"))
        request._send(200, urlset([site.url("/a")]).encode(), {"Content-Type": "application/xml"})

    listed(site, "/ua.xml")
    site.add("/ua.xml", handler=remember)
    crawl(site, replace(LOCAL, user_agent="TestBot/2.0 (+https://example.com/bot)"))
    assert seen == ["TestBot/2.0 (+https://example.com/bot)"]


def test_a_body_ended_by_closing_the_connection_is_read_whole(site):
    listed(site, "/close.xml")
    site.add("/close.xml", handler=raw(urlset([site.url("/c")]).encode(), {"Content-Type": "text/xml"}))
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/c")}


def test_closing_the_crawl_early_stops_its_downloads_promptly(site):
    listed(site, "/slow.xml")
    first = f"<urlset><url><loc>{site.url('/a')}</loc></url>".encode() + b" " * 5000
    site.add("/slow.xml", handler=dripping("<url><loc>x</loc></url>" * 200, 0.02, first=first))
    from batches.sitemaps import crawl_domain
    from batches.sitemaps.records import SitemapStarted

    started = time.monotonic()
    crawl = crawl_domain(site.host, LOCAL, scheme="http")
    for event in crawl:
        if isinstance(event, SitemapStarted):
            break
    crawl.close()
    assert time.monotonic() - started < 2


def test_a_redirect_to_another_scheme_is_refused_with_a_readable_error(site):
    listed(site, "/file.xml")
    site.redirect("/file.xml", "file:///etc/passwd")
    found = crawl(site, LOCAL)
    assert found.finished(site.url("/file.xml")).error == (
        "invalid URL: No connection adapters were found for 'file:///etc/passwd'")


def test_a_damaged_sitemap_keeps_its_urls_and_its_error_without_failing_the_domain(site):
    listed(site, "/damaged.xml")
    site.add("/damaged.xml", urlset([site.url("/a"), site.url("/b")])[:-30])
    found = crawl(site, LOCAL)
    finished = found.finished(site.url("/damaged.xml"))
    assert set(found.urls) == {site.url("/a")}
    assert finished.error == "XML error: the document ends before its closing tags (truncated file?)"
    assert (found.result.error, found.result.sitemaps_failed) == ("", 0)


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone

    from batches.sitemaps.fetch import retry_after_seconds

    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds("120") == 120.0
    assert 28 <= retry_after_seconds(soon) <= 30
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None


def test_bytes_appended_after_the_gzip_stream_are_ignored(site):
    # A caching plugin appends an uncompressed "<!-- cached -->" after a gzipped sitemap.
    listed(site, "/sitemap.xml.gz")
    site.add("/sitemap.xml.gz", gzip.compress(urlset([site.url("/a")]).encode()) + b"<!-- cached by a plugin -->")
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/a")}
    assert found.finished(site.url("/sitemap.xml.gz")).error == ""


def test_a_server_that_goes_silent_trips_the_read_timeout(site):
    listed(site, "/silent.xml", "/stalls.xml")
    site.add("/silent.xml", urlset([site.url("/s")]), delay=2)  # no headers for 2 s
    site.add("/stalls.xml", handler=dripping("<url><loc>x</loc></url>", 2, first=b"<urlset>"))
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, read_timeout=0.5))
    assert time.monotonic() - started < 1.8
    assert found.finished(site.url("/silent.xml")).error == "no answer within 0.5 s"
    assert found.finished(site.url("/stalls.xml")).error == "no data for 0.5 s while reading"


def test_parsing_ahead_while_the_caller_stores_gives_the_same_records_in_order(site):
    from batches.sitemaps import crawl_domain
    from batches.sitemaps.records import CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk

    children = [site.url(f"/part{n}.xml.gz") for n in range(4)]
    listed(site, "/index.xml")
    site.add("/index.xml", sitemapindex(children))
    for n in range(4):
        site.add(f"/part{n}.xml.gz", urlset([site.url(f"/{n}/{i}") for i in range(3000)]), gzipped=True)
    started, finished, locs = set(), set(), []
    for event in crawl_domain(site.host, replace(LOCAL, parse_ahead=True, chunk_size=500), scheme="http"):
        if isinstance(event, SitemapStarted):
            assert event.parent_key is None or event.parent_key in started
            started.add(event.key)
        elif isinstance(event, UrlChunk):
            assert event.sitemap_key in started and event.sitemap_key not in finished
            locs.extend(record.loc for record in event.urls)
            time.sleep(0.002)  # the caller storing a chunk: the helper parses meanwhile
        elif isinstance(event, SitemapFinished):
            finished.add(event.key)
    assert isinstance(event, CrawlFinished) and event.urls == 12_000 and event.sitemaps == 5
    assert started == finished and len(started) == 5
    assert sorted(locs) == sorted(site.url(f"/{n}/{i}") for n in range(4) for i in range(3000))


def _many_urls(site, count):
    return urlset([site.url(f"/page/{n}") for n in range(count)])


def _crawl_with_a_slow_first_chunk(site, config, pause, cancelled=None):
    """Run the crawl as a caller that spends `pause` seconds storing the first UrlChunk
    (meanwhile the download fills the queue); returns (URLs yielded, CrawlFinished, seconds)."""
    from batches.sitemaps import crawl_domain
    from batches.sitemaps.records import UrlChunk

    started, urls, paused = time.monotonic(), 0, False
    for event in crawl_domain(site.host, config, scheme="http", cancelled=cancelled):
        if isinstance(event, UrlChunk):
            urls += len(event.urls)
            if not paused:
                paused = True
                time.sleep(pause)
    return urls, event, time.monotonic() - started


def test_it_drops_the_queued_chunks_once_the_domain_deadline_passes(site):
    listed(site, "/big.xml")
    site.add("/big.xml", _many_urls(site, 200_000))
    urls, result, seconds = _crawl_with_a_slow_first_chunk(site, replace(LOCAL, domain_deadline=1, chunk_size=1000), 1.5)
    assert seconds < 3
    assert urls <= 3000  # the first chunk, and at most what one dispatch completed after the stop
    assert result.notes == ["stopped at the domain time limit of 1 s"]


def test_it_stops_promptly_when_the_caller_cancels_between_chunks(site):
    from batches.sitemaps.engine import CANCEL_POLL

    listed(site, "/big.xml")
    site.add("/big.xml", _many_urls(site, 1_500_000))  # more than three seconds of parsing on any machine
    polls = []

    def cancelled():
        polls.append(time.monotonic())
        return len(polls) > 1  # the second look says the batch was cancelled

    urls, result, seconds = _crawl_with_a_slow_first_chunk(site, replace(LOCAL, chunk_size=1000), 0.3, cancelled)
    assert seconds < CANCEL_POLL + 1.5
    assert urls < 1_000_000  # stopped well before the end of the file
    assert len(polls) == 2 and polls[1] - polls[0] >= CANCEL_POLL  # a database look at most once a poll
    assert result.notes == [] and result.error == ""
