"""Every failed domain and every sitemap with a problem carries a stable code beside its text;
sitemap rows record where redirects landed and the validators; robots.txt's outcome is kept."""

import socket
from dataclasses import replace

import pytest

from batches.sitemaps import CrawlConfig
from batches.sitemaps.fetch import Response
from batches.sitemaps.records import DomainError, SitemapProblem
from tests.sites import crawl, dripping, urlset

LOCAL = CrawlConfig(allow_private_hosts=True, retries=0, probe_well_known=False, connect_timeout=2)


def listed(site, *paths):
    site.add("/robots.txt", "".join(f"Sitemap: {site.url(path)}\n" for path in paths), content_type="text/plain")


def _closed_port():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def test_it_codes_a_name_that_does_not_resolve_as_dns():
    found = crawl("nothing-here.invalid", LOCAL, scheme="")
    assert found.result.error_code == DomainError.DNS
    assert found.result.error.startswith("https://nothing-here.invalid: the host name does not resolve; ")


def test_it_codes_a_closed_port_as_refused():
    port = _closed_port()
    found = crawl(f"127.0.0.1:{port}", LOCAL)
    assert (found.result.error, found.result.error_code) == (f"http://127.0.0.1:{port}: connection refused", DomainError.REFUSED)


def test_it_codes_a_host_that_never_answers_as_timeout(site):
    site.add("/robots.txt", "", delay=2)
    found = crawl(site, replace(LOCAL, read_timeout=0.5))
    assert (found.result.error, found.result.error_code) == (f"{site.origin}: no answer within 0.5 s", DomainError.TIMEOUT)


def test_it_codes_a_guarded_address_as_blocked(site):
    found = crawl(site, replace(LOCAL, allow_private_hosts=False))
    assert found.result.error_code == DomainError.BLOCKED


def test_it_codes_a_host_that_answered_only_http_errors_as_http_error(site):
    listed(site, "/gone.xml", "/down.xml")
    site.add("/down.xml", "", status=500)
    found = crawl(site, LOCAL)
    assert found.result.error in ("no sitemap could be read: HTTP 404", "no sitemap could be read: HTTP 500")
    assert found.result.error_code == DomainError.HTTP_ERROR
    assert [found.finished(site.url(p)).error_code for p in ("/gone.xml", "/down.xml")] == [SitemapProblem.HTTP_ERROR] * 2


def test_it_codes_sitemaps_failing_for_different_reasons_as_no_readable_sitemap(site):
    listed(site, "/gone.xml", "/brotli.xml")
    site.add("/brotli.xml", b"\x00\x01", headers={"Content-Encoding": "br"})
    found = crawl(site, LOCAL)
    assert found.result.error_code == DomainError.NO_READABLE_SITEMAP
    assert found.finished(site.url("/brotli.xml")).error_code == SitemapProblem.COMPRESSION_ERROR


def test_it_codes_a_domain_stopped_by_its_time_limit_before_any_url_as_deadline(site):
    listed(site, "/forever.xml")
    site.add("/forever.xml", handler=dripping("x" * 1000, 0.05, first=b"<urlset>"))
    found = crawl(site, replace(LOCAL, domain_deadline=1))
    assert found.result.error == "no sitemap could be read: stopped at the domain time limit of 1 s"
    assert found.result.error_code == DomainError.DEADLINE


def test_it_gives_each_sitemap_problem_its_code(site_factory):
    site = site_factory()
    inner = site_factory(address="127.0.0.2")
    listed(site, "/big.xml", "/cut.xml.gz", "/damaged.xml", "/slow.xml")
    site.add("/robots.txt", site.routes["/robots.txt"].body + f"Sitemap: {inner.url('/x.xml')}\n".encode())
    site.add("/big.xml", urlset([site.url(f"/{n}") for n in range(100)]))
    site.add("/cut.xml.gz", urlset([site.url("/c")]), gzipped=True)
    site.routes["/cut.xml.gz"].body = site.routes["/cut.xml.gz"].body[:-12]
    site.add("/damaged.xml", urlset([site.url("/a"), site.url("/b")])[:-30])
    site.add("/slow.xml", handler=dripping("<url><loc>x</loc></url>" * 100, 0.05, first=b"<urlset>"))
    found = crawl(site, replace(LOCAL, allow_private_hosts=False, allowed_addresses=("127.0.0.1",),
                                max_sitemap_bytes=2000, request_deadline=1))
    codes = {url: found.finished(url).error_code for url in found.sitemaps}
    assert codes == {
        site.url("/big.xml"): SitemapProblem.TOO_LARGE,
        site.url("/cut.xml.gz"): SitemapProblem.COMPRESSION_ERROR,
        site.url("/damaged.xml"): SitemapProblem.XML_ERROR,
        site.url("/slow.xml"): SitemapProblem.TIMEOUT,
        inner.url("/x.xml"): SitemapProblem.BLOCKED,
    }


def test_it_leaves_the_code_empty_on_a_sitemap_read_without_trouble(site):
    listed(site, "/a.xml")
    site.add("/a.xml", urlset([site.url("/a")]))
    finished = crawl(site, LOCAL).finished(site.url("/a.xml"))
    assert (finished.error, finished.error_code) == ("", "")


def test_it_records_the_validators_and_the_final_url_of_each_sitemap(site):
    listed(site, "/a.xml")
    site.add("/a.xml", urlset([site.url("/a")]), headers={"ETag": '"v42"', "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"})
    finished = crawl(site, LOCAL).finished(site.url("/a.xml"))
    assert (finished.etag, finished.last_modified, finished.final_url) == (
        '"v42"', "Tue, 01 Dec 2026 10:00:00 GMT", site.url("/a.xml"))


def test_it_records_the_status_and_size_of_robots_txt(site):
    body = f"User-agent: *\nSitemap: {site.url('/a.xml')}\n"
    site.add("/robots.txt", body, content_type="text/plain")
    site.add("/a.xml", urlset([site.url("/a")]))
    result = crawl(site, LOCAL).result
    assert (result.robots_status, result.robots_bytes, result.robots_error) == (200, len(body), "")


@pytest.mark.parametrize("status", [404, 503])
def test_it_records_a_robots_txt_that_answered_an_http_error(site, status):
    site.add("/robots.txt", "oops", status=status, content_type="text/plain")
    result = crawl(site, LOCAL).result
    assert (result.robots_status, result.robots_bytes, result.robots_error, result.error) == (status, 0, "", "")


def test_it_records_a_robots_txt_cut_off_while_reading(site):
    site.add("/robots.txt", handler=dripping("Sitemap: /never.xml\n", 0.2, first=b"User-agent: *\n"))
    result = crawl(site, replace(LOCAL, request_deadline=0.5)).result
    assert result.robots_status == 200
    assert len(b"User-agent: *\n") <= result.robots_bytes < len(b"User-agent: *\nSitemap: /never.xml\n")
    assert result.robots_error == "download took longer than 0.5 s"


def test_it_reads_the_charset_parameter_of_the_content_type():
    def charset(value):
        return Response("http://x/", 200, "", "", 0, {"Content-Type": value}, body=None).charset

    assert charset('text/xml; Charset="ISO-8859-1"') == "iso-8859-1"
    assert charset("application/xml;charset=utf-8;q=1") == "utf-8"
    assert charset("text/xml") == ""


def test_it_takes_a_bare_ipv6_literal_as_a_host_not_as_a_port():
    found = crawl("::1", replace(LOCAL, allow_private_hosts=False), scheme="http")
    assert found.result.error == "http://[::1]: refused to fetch ::1: it is not a public address"


@pytest.mark.parametrize("host, message", [
    ("[fe80::1]:80", "the address cannot be connected to"),  # link-local without a scope: EINVAL
    (f"127.0.0.1:{_closed_port()}", "connection refused"),
    ("nothing-here.invalid", "the host name does not resolve"),
])
def test_it_never_shows_the_http_librarys_own_text_for_an_unreachable_host(host, message):
    found = crawl(host, replace(LOCAL, connect_timeout=1), scheme="http")
    first = found.result.error.split("; ")[0]
    assert first.split(": ", 1)[1] == message
    for raw_text in ("Errno", "HTTPConnection", "Max retries", "NewConnectionError", "object at 0x"):
        assert raw_text not in found.result.error
