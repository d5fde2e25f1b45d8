"""The address guard: judged on the address actually connected to, at every hop."""

import pytest

from batches.sitemaps import CrawlConfig
from batches.sitemaps.guard import address_problem
from tests.sites import crawl, sitemapindex, urlset

# The guard is on; only the first site's address is let through, so what it links to is judged.
GUARDED = CrawlConfig(retries=0, probe_well_known=False, allowed_addresses=("127.0.0.1",))


@pytest.mark.parametrize("ip, problem", [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.0.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("93.184.215.14", ""),
    ("2606:4700:4700::1111", ""),
])
def test_every_non_public_address_is_refused_and_public_ones_pass(ip, problem):
    assert address_problem(ip) == problem


def test_a_loopback_site_is_refused_with_a_readable_error(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/a.xml')}\n")
    found = crawl(site, CrawlConfig(retries=0))
    assert found.result.error == f"{site.origin}: refused to fetch 127.0.0.1: it is not a public address"
    assert sum(site.hits.values()) == 0


def test_a_name_is_judged_by_what_it_resolves_to(site):
    found = crawl(f"localhost:{site.port}", CrawlConfig(retries=0))  # scheme given: http only
    assert found.result.error == (
        f"http://localhost:{site.port}: refused to fetch localhost: it is not a public address; "
        f"http://www.localhost:{site.port}: the host name does not resolve"
    )


def test_every_redirect_hop_is_checked(site_factory):
    first = site_factory()
    inner = site_factory(address="127.0.0.2")
    first.add("/robots.txt", f"Sitemap: {first.url('/hop.xml')}\nSitemap: {first.url('/ok.xml')}\n")
    first.redirect("/hop.xml", inner.url("/secret.xml"))
    first.add("/ok.xml", urlset([first.url("/ok")]))
    inner.add("/secret.xml", urlset([inner.url("/secret")]))
    found = crawl(first, GUARDED)
    assert found.finished(first.url("/hop.xml")).error == (
        "refused to fetch 127.0.0.2: it is not a public address")
    assert set(found.urls) == {first.url("/ok")}
    assert inner.hits["/secret.xml"] == 0


def test_cross_host_children_and_numeric_spellings_are_checked(site_factory):
    first = site_factory()
    inner = site_factory(address="127.0.0.2")
    children = [inner.url("/a.xml"), f"http://2130706434:{inner.port}/b.xml", f"http://0x7f.2:{inner.port}/c.xml"]
    first.add("/robots.txt", f"Sitemap: {first.url('/index.xml')}\n")
    first.add("/index.xml", sitemapindex(children))
    for path in ("/a.xml", "/b.xml", "/c.xml"):
        inner.add(path, urlset([inner.url(path + "-page")]))
    found = crawl(first, GUARDED)
    assert found.urls == {}
    assert [found.finished(url).error for url in children] == [
        "refused to fetch 127.0.0.2: it is not a public address",
        "refused to fetch 2130706434: it is not a public address",
        "refused to fetch 0x7f.2: it is not a public address",
    ]
    assert sum(inner.hits.values()) == 0
    assert (found.result.error, found.result.sitemaps_failed) == ("", 3)  # the index itself was read


def test_private_hosts_are_fetched_when_allowed(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/a.xml')}\n")
    site.add("/a.xml", urlset([site.url("/a")]))
    found = crawl(site, CrawlConfig(retries=0, allow_private_hosts=True, probe_well_known=False))
    assert set(found.urls) == {site.url("/a")}
