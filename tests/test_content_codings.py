"""Content-Encoding: stacked codings undone in reverse order of application, zlib-wrapped and
raw deflate, unknown codings reported on their own sitemap, every layer bounded while inflating."""

import gzip
import time
import zlib
from dataclasses import replace

from batches.sitemaps import CrawlConfig
from batches.sitemaps.records import SitemapProblem
from tests.sites import crawl, urlset, zero_bomb

LOCAL = CrawlConfig(allow_private_hosts=True, retries=0, probe_well_known=False)
MIB = 1024 * 1024


def listed(site, *paths):
    site.add("/robots.txt", "".join(f"Sitemap: {site.url(path)}\n" for path in paths), content_type="text/plain")


def raw_deflate(data):
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush()


def test_it_undoes_stacked_codings_in_reverse_order_of_application(site):
    body = urlset([site.url("/x")]).encode()
    listed(site, "/deflate-gzip.xml", "/gzip-deflate.xml", "/raw-gzip.xml", "/spaced.xml")
    site.add("/deflate-gzip.xml", gzip.compress(zlib.compress(body)), headers={"Content-Encoding": "deflate, gzip"})
    site.add("/gzip-deflate.xml", zlib.compress(gzip.compress(body)), headers={"Content-Encoding": "gzip, deflate"})
    site.add("/raw-gzip.xml", gzip.compress(raw_deflate(body)), headers={"Content-Encoding": "deflate,gzip"})
    site.add("/spaced.xml", gzip.compress(body), headers={"Content-Encoding": " identity , GZIP "})
    found = crawl(site, LOCAL)
    for path in ("/deflate-gzip.xml", "/gzip-deflate.xml", "/raw-gzip.xml", "/spaced.xml"):
        finished = found.finished(site.url(path))
        assert (finished.url_count, finished.error, finished.bytes, finished.compressed) == (1, "", len(body), True), path


def test_it_reports_an_unknown_coding_on_its_own_sitemap_and_reads_the_siblings(site):
    listed(site, "/brotli.xml", "/stacked-unknown.xml", "/fine.xml")
    site.add("/brotli.xml", b"\x8b\x02\x80", headers={"Content-Encoding": "br"})
    site.add("/stacked-unknown.xml", b"\x00", headers={"Content-Encoding": "gzip, zstd"})
    site.add("/fine.xml", urlset([site.url("/f")]))
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/f")}
    assert [(found.finished(site.url(p)).error, found.finished(site.url(p)).error_code)
            for p in ("/brotli.xml", "/stacked-unknown.xml")] == [
        ("unsupported Content-Encoding 'br'", SitemapProblem.COMPRESSION_ERROR),
        ("unsupported Content-Encoding 'zstd'", SitemapProblem.COMPRESSION_ERROR),
    ]
    assert (found.result.error, found.result.sitemaps_failed) == ("", 2)


def test_a_file_gzipped_again_is_inflated_again_up_to_three_layers(site):
    body = urlset([site.url("/x")]).encode()
    listed(site, "/twice.xml.gz", "/coded-twice.xml.gz", "/four.xml.gz")
    site.add("/twice.xml.gz", gzip.compress(gzip.compress(body)), content_type="application/x-gzip")
    site.add("/coded-twice.xml.gz", gzip.compress(gzip.compress(gzip.compress(body))), headers={"Content-Encoding": "gzip"})
    site.add("/four.xml.gz", gzip.compress(gzip.compress(gzip.compress(gzip.compress(body)))))
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/x")}
    outcome = {path: (found.finished(site.url(path)).kind, found.finished(site.url(path)).compressed,
                      found.finished(site.url(path)).error) for path in ("/twice.xml.gz", "/coded-twice.xml.gz", "/four.xml.gz")}
    assert outcome == {
        "/twice.xml.gz": ("urlset", True, ""),
        "/coded-twice.xml.gz": ("urlset", True, ""),  # the coding, then two file layers
        "/four.xml.gz": ("not_sitemap", True, ""),  # past three file layers it is not read
    }


def test_it_bounds_every_layer_of_a_stacked_bomb(site):
    bomb = zero_bomb(1024 * MIB)  # 1 MB that inflates to 1 GiB, wrapped once more
    listed(site, "/outer.xml", "/inner.xml")
    site.add("/outer.xml", zlib.compress(bomb), headers={"Content-Encoding": "gzip, deflate"})
    site.add("/inner.xml", gzip.compress(gzip.compress(bomb)), headers={"Content-Encoding": "gzip, gzip"})
    started = time.monotonic()
    found = crawl(site, replace(LOCAL, max_sitemap_bytes=MIB))
    assert time.monotonic() - started < 5
    for path in ("/outer.xml", "/inner.xml"):
        finished = found.finished(site.url(path))
        assert (finished.error, finished.error_code) == (
            "larger than the 1,048,576 byte limit (after decompression)", SitemapProblem.TOO_LARGE), path
