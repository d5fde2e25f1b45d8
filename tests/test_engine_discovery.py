"""Discovery: robots.txt, well-known paths, the home page, origin fallbacks, indexes, redirects."""

import time
from dataclasses import replace

from batches.sitemaps import CrawlConfig, UrlChunk, crawl_domain
from batches.sitemaps.discover import WELL_KNOWN_PATHS, home_page_sitemaps, robots_sitemaps
from tests.sites import crawl, sitemapindex, urlset

LOCAL = CrawlConfig(allow_private_hosts=True, retries=0)
LISTED_ONLY = replace(LOCAL, probe_well_known=False)
ROBOTS = "http://example.com/robots.txt"


def test_robots_lines_in_any_case_and_spacing_and_the_site_map_spelling_are_all_read():
    body = (
        b"\xef\xbb\xbfSitemap: http://example.com/a.xml\r\n"
        b"User-agent: *\r\n"
        b"  sitemap:http://example.com/b.xml   # the posts\r\n"
        b"SITEMAP :   http://example.com/c.xml\n"
        b"Site-map: http://example.com/d.xml\n"
        b"Disallow: /private\n"
        b"sitemap\t:\thttp://example.com/e.xml\n"
    )
    assert robots_sitemaps(body, ROBOTS) == [f"http://example.com/{name}.xml" for name in "abcde"]


def test_robots_relative_urls_resolve_against_robots_and_duplicates_and_junk_are_dropped():
    body = (
        b"Sitemap: /sitemaps/one.xml\n"
        b"Sitemap: sitemaps/one.xml\n"
        b"Sitemap: <http://example.com/two.xml>\n"
        b"Sitemap: ftp://example.com/three.xml\n"
        b"Sitemap:\n"
        b"Sitemap: # nothing but a comment\n"
        b"Sitemap: http://example.com/caf\xe9.xml\n"
        b"\xff\xfe\x00garbage line\n"
    )
    assert robots_sitemaps(body, ROBOTS) == [
        "http://example.com/sitemaps/one.xml",
        "http://example.com/two.xml",
        "http://example.com/caf\ufffd.xml",
    ]


def test_an_html_page_served_as_robots_txt_names_no_sitemap():
    body = b"<!DOCTYPE html><html><body><p>Sitemap: is a word on this page</p></body></html>"
    assert robots_sitemaps(body, ROBOTS) == []


def test_the_home_page_link_rel_sitemap_is_found_whatever_the_attribute_order():
    body = (b'<html><head><link href="/s1.xml" rel="sitemap" type="application/xml">'
            b"<link rel='stylesheet' href='/x.css'><LINK REL=\"Sitemap alternate\" HREF=\"https://cdn.example.com/s2.xml\">")
    assert home_page_sitemaps(body, "http://example.com/") == ["http://example.com/s1.xml", "https://cdn.example.com/s2.xml"]


def test_the_well_known_path_list_covers_what_generators_publish():
    for path in ("/sitemap.xml", "/sitemap_index.xml", "/sitemap-index.xml", "/sitemap.xml.gz",
                 "/sitemap_index.xml.gz", "/wp-sitemap.xml", "/sitemap.txt"):
        assert path in WELL_KNOWN_PATHS
    assert len(set(WELL_KNOWN_PATHS)) == len(WELL_KNOWN_PATHS)


def test_robots_txt_beyond_500_kib_is_still_read_to_its_last_sitemap_line(site):
    filler = "Disallow: /" + "x" * 80 + "\n"
    body = filler * (600 * 1024 // len(filler)) + f"Sitemap: {site.url('/late.xml')}\n"
    site.add("/robots.txt", body, content_type="text/plain")
    site.add("/late.xml", urlset([site.url("/late")]))
    found = crawl(site, LISTED_ONLY)
    assert set(found.urls) == {site.url("/late")}
    assert found.started(site.url("/late.xml")).found_by == "robots"


def test_a_robots_listed_sitemap_is_not_fetched_again_as_a_well_known_path(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/sitemap.xml')}\n", content_type="text/plain")
    site.add("/sitemap.xml", urlset([site.url("/a")]))
    found = crawl(site, LOCAL)
    assert site.hits["/sitemap.xml"] == 1
    assert found.started(site.url("/sitemap.xml")).found_by == "robots"
    assert set(found.sitemaps) == {site.url("/sitemap.xml")}


def test_well_known_paths_are_probed_and_a_miss_is_silence(site):
    site.add("/sitemap_index.xml", sitemapindex([site.url("/posts.xml")]))
    site.add("/posts.xml", urlset([site.url("/p1")]))
    site.add("/sitemap.txt", site.url("/t1") + "\n", content_type="text/plain")
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/p1"), site.url("/t1")}
    assert {url: s.found_by for url, (s, _) in found.sitemaps.items()} == {
        site.url("/sitemap_index.xml"): "well_known",
        site.url("/posts.xml"): "index",
        site.url("/sitemap.txt"): "well_known",
    }
    assert found.result.sitemaps_failed == 0 and found.result.error == ""
    for path in WELL_KNOWN_PATHS:
        assert site.hits[path] == 1


def test_a_well_known_path_that_redirects_to_a_listed_sitemap_is_read_once(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/sitemap_index.xml')}\n", content_type="text/plain")
    site.redirect("/sitemap.xml", site.url("/sitemap_index.xml"))
    site.add("/sitemap_index.xml", sitemapindex([site.url("/a.xml")]))
    site.add("/a.xml", urlset([site.url("/a")]))
    found = crawl(site, LOCAL)
    assert set(found.sitemaps) == {site.url("/sitemap_index.xml"), site.url("/a.xml")}
    assert site.hits["/a.xml"] == 1


def test_the_home_page_link_is_followed_when_robots_names_nothing(site):
    site.add("/", '<html><head><link rel="sitemap" href="/feeds/map.xml"></head></html>', content_type="text/html")
    site.add("/feeds/map.xml", urlset([site.url("/h1")]))
    found = crawl(site, LISTED_ONLY)
    assert set(found.urls) == {site.url("/h1")}
    assert found.started(site.url("/feeds/map.xml")).found_by == "home_page"


def test_a_bare_domain_falls_back_from_https_to_http(site):
    site.add("/sitemap.xml", urlset([site.url("/a")]))
    found = crawl(site, LOCAL, scheme="")
    assert found.result.origin == site.origin
    assert set(found.urls) == {site.url("/a")}


def test_a_host_that_answers_nowhere_fails_after_trying_https_http_and_www(site):
    port = site.port
    site.close()
    found = crawl(f"localhost:{port}", replace(LOCAL, connect_timeout=2), scheme="")
    assert found.result.error == (
        f"https://localhost:{port}: connection refused; http://localhost:{port}: connection refused; "
        f"https://www.localhost:{port}: the host name does not resolve; "
        f"http://www.localhost:{port}: the host name does not resolve"
    )


def test_each_sitemap_row_records_how_it_was_read(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/index.xml')}\n", content_type="text/plain")
    site.add("/index.xml", sitemapindex([site.url("/a.xml.gz")]), content_type="text/xml; charset=utf-8")
    body = urlset([site.url("/a")])
    site.add("/a.xml.gz", body, gzipped=True, content_type="application/x-gzip")
    found = crawl(site, LISTED_ONLY)
    index = found.finished(site.url("/index.xml"))
    child = found.finished(site.url("/a.xml.gz"))
    assert (index.kind, index.http_status, index.content_type, index.compressed) == ("index", 200, "text/xml", False)
    assert (child.kind, child.http_status, child.content_type, child.compressed) == ("urlset", 200, "application/x-gzip", True)
    assert child.bytes == len(body.encode())
    assert child.url_count == 1 and child.error == "" and child.response_ms >= 0


def test_the_generator_is_recognised(site):
    yoast = ('<?xml version="1.0" encoding="UTF-8"?><?xml-stylesheet type="text/xsl" href="//x/main-sitemap.xsl"?>\n'
             f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{site.url("/y")}</loc></url></urlset>\n'
             "<!-- XML Sitemap generated by Yoast SEO -->")
    site.add("/robots.txt", f"Sitemap: {site.url('/post-sitemap.xml')}\nSitemap: {site.url('/wp-sitemap-posts-post-1.xml')}\n")
    site.add("/post-sitemap.xml", yoast)
    site.add("/wp-sitemap-posts-post-1.xml", urlset([site.url("/w")]))
    found = crawl(site, LISTED_ONLY)
    assert found.finished(site.url("/post-sitemap.xml")).generator == "Yoast SEO"
    assert found.finished(site.url("/wp-sitemap-posts-post-1.xml")).generator == "WordPress core"


def test_index_children_are_decided_by_content_not_by_their_names(site):
    site.add("/sitemap.xml", sitemapindex([site.url("/sitemap.php?page=2"), site.url("/map?type=posts")]))
    site.add("/sitemap.php?page=2", urlset([site.url("/php")]), content_type="text/html")
    site.add("/map?type=posts", site.url("/txt") + "\n", content_type="text/html")
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/php"), site.url("/txt")}
    assert found.finished(site.url("/sitemap.php?page=2")).kind == "urlset"
    assert found.finished(site.url("/map?type=posts")).kind == "text"


def test_a_urlset_of_sitemap_entries_is_followed_as_an_index_and_an_index_of_urls_gives_pages(site):
    # the comment puts the first entry past the bytes the reader sniffs the kind from
    comment = "<!-- " + "generated by a plugin " * 500 + "-->"
    site.add("/robots.txt", f"Sitemap: {site.url('/sitemap.xml')}\n", content_type="text/plain")
    site.add("/sitemap.xml", f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{comment}'
             f"<sitemap><loc>{site.url('/posts.xml')}</loc></sitemap><sitemap><loc>{site.url('/pages.xml')}</loc></sitemap>"
             "</urlset>")
    site.add("/posts.xml", urlset([site.url("/post-1"), site.url("/post-2")]))
    site.add("/pages.xml", f"<sitemapindex><url><loc>{site.url('/about')}</loc></url></sitemapindex>")
    found = crawl(site, LISTED_ONLY)
    assert set(found.urls) == {site.url("/post-1"), site.url("/post-2"), site.url("/about")}
    outcome = {path: (found.finished(site.url(path)).kind, found.finished(site.url(path)).error)
               for path in ("/sitemap.xml", "/posts.xml", "/pages.xml")}
    assert outcome == {
        "/sitemap.xml": ("index", "XML error: the <urlset> root lists <sitemap> entries: read as a sitemap index"),
        "/posts.xml": ("urlset", ""),
        "/pages.xml": ("urlset", "XML error: the <sitemapindex> root lists <url> entries: read as a urlset"),
    }
    assert (found.result.error, found.result.sitemaps_failed) == ("", 0)


def test_indexes_that_list_each_other_terminate_and_each_url_is_fetched_once(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/a.xml')}\n", content_type="text/plain")
    site.add("/a.xml", sitemapindex([site.url("/b.xml"), site.url("/leaf.xml")]))
    site.add("/b.xml", sitemapindex([site.url("/a.xml"), site.url("/leaf.xml"), site.url("/b.xml")]))
    site.add("/leaf.xml", urlset([site.url("/x")]))
    found = crawl(site, LISTED_ONLY)
    assert set(found.urls) == {site.url("/x")}
    assert (site.hits["/a.xml"], site.hits["/b.xml"], site.hits["/leaf.xml"]) == (1, 1, 1)


def test_indexes_nested_deeper_than_the_limit_are_not_followed_and_that_is_noted(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/0.xml')}\n", content_type="text/plain")
    for level in range(3):
        site.add(f"/{level}.xml", sitemapindex([site.url(f"/{level + 1}.xml")]))
    site.add("/3.xml", urlset([site.url("/deep")]))
    found = crawl(site, replace(LISTED_ONLY, max_depth=2))
    assert set(found.sitemaps) == {site.url("/0.xml"), site.url("/1.xml"), site.url("/2.xml")}
    assert found.urls == {}
    assert found.result.notes == ["sitemap indexes nested deeper than 2 levels were not followed"]
    assert site.hits["/3.xml"] == 0


def test_an_index_records_each_childs_lastmod(site):
    index = ('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             f"<sitemap><loc>{site.url('/a.xml')}</loc><lastmod>2024-05-06T07:08:09+02:00</lastmod></sitemap>"
             f"<sitemap><loc>{site.url('/b.xml')}</loc><lastmod>yesterday</lastmod></sitemap></sitemapindex>")
    site.add("/sitemap.xml", index)
    site.add("/a.xml", urlset([site.url("/a")]))
    site.add("/b.xml", urlset([site.url("/b")]))
    found = crawl(site, LOCAL)
    assert found.started(site.url("/a.xml")).lastmod.isoformat() == "2024-05-06T05:08:09+00:00"
    assert found.started(site.url("/b.xml")).lastmod is None


def test_redirects_are_followed_to_the_limit(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/r0')}\nSitemap: {site.url('/s0')}\n", content_type="text/plain")
    for hop in range(3):
        site.redirect(f"/r{hop}", f"/r{hop + 1}", status=302)
    site.add("/r3", urlset([site.url("/ok")]))
    for hop in range(5):
        site.redirect(f"/s{hop}", f"/s{hop + 1}")
    site.add("/s5", urlset([site.url("/too-far")]))
    found = crawl(site, replace(LISTED_ONLY, max_redirects=3))
    assert set(found.urls) == {site.url("/ok")}
    assert found.finished(site.url("/s0")).error == "more than 3 redirects (or a redirect loop)"


def test_a_redirect_loop_terminates_with_an_error_on_its_sitemap(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/loop-a')}\nSitemap: {site.url('/fine.xml')}\n", content_type="text/plain")
    site.redirect("/loop-a", "/loop-b")
    site.redirect("/loop-b", "/loop-a")
    site.add("/fine.xml", urlset([site.url("/f")]))
    found = crawl(site, LISTED_ONLY)
    assert found.finished(site.url("/loop-a")).error == "more than 10 redirects (or a redirect loop)"
    assert set(found.urls) == {site.url("/f")}
    assert found.result.error == "" and found.result.sitemaps_failed == 1


def test_a_domain_fails_only_when_nothing_could_be_read(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/gone.xml')}\nSitemap: {site.url('/broken.xml')}\n", content_type="text/plain")
    site.add("/broken.xml", "<urlset><url><loc>/relative</loc></url></urlset>")  # read, nothing usable
    found = crawl(site, LISTED_ONLY)
    assert found.urls == {}
    assert found.result.error == ""  # done with no URLs: one sitemap could be read
    assert (found.result.sitemaps, found.result.sitemaps_failed, found.result.skipped) == (2, 1, 1)


def test_a_domain_whose_every_sitemap_failed_is_failed_with_the_first_error(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/gone.xml')}\n", content_type="text/plain")
    found = crawl(site, LISTED_ONLY)
    assert found.result.error == "no sitemap could be read: HTTP 404"
    assert (found.result.sitemaps, found.result.sitemaps_failed) == (1, 1)


def test_a_listed_html_soft_404_is_recorded_as_not_a_sitemap_without_failing_the_domain(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/sitemap.xml')}\n", content_type="text/plain")
    site.add("/sitemap.xml", "<!DOCTYPE html><html><head><title>Not found</title></head></html>", content_type="text/html")
    found = crawl(site, LISTED_ONLY)
    finished = found.finished(site.url("/sitemap.xml"))
    assert (finished.kind, finished.error, finished.url_count) == ("not_sitemap", "", 0)
    assert found.result.error == "" and found.result.sitemaps_failed == 0


def test_robots_sitemap_urls_keep_their_letter_case(site):
    site.add("/robots.txt", f"SITEMAP: {site.url('/Sitemaps/SitemapIndex_0.xml.gz')}\n", content_type="text/plain")
    site.add("/Sitemaps/SitemapIndex_0.xml.gz", urlset([site.url("/Item/A")]), gzipped=True)
    found = crawl(site, LISTED_ONLY)
    assert set(found.urls) == {site.url("/Item/A")}


def test_it_lists_a_file_once_under_robots_when_a_probe_names_it_on_another_host_name(site):
    # robots.txt names 127.0.0.1; the domain was entered as localhost: the probe of the same
    # path is the same file on the same server and is not fetched a second time
    site.add("/robots.txt", f"Sitemap: {site.url('/sitemap_index.xml')}\n", content_type="text/plain")
    site.add("/sitemap_index.xml", sitemapindex([site.url("/posts.xml"), site.url("/cut.xml.gz")]))
    site.add("/posts.xml", urlset([site.url(f"/p{n}") for n in range(3)]))
    cut = urlset([site.url(f"/c{n}") for n in range(2000)])
    import gzip

    site.add("/cut.xml.gz", gzip.compress(cut.encode())[:6000])
    found = crawl(f"localhost:{site.port}", LOCAL)
    index = site.url("/sitemap_index.xml")
    assert set(found.sitemaps) == {index, site.url("/posts.xml"), site.url("/cut.xml.gz")}
    assert found.started(index).found_by == "robots"
    assert {found.started(url).parent_key for url in (site.url("/posts.xml"), site.url("/cut.xml.gz"))} == {
        found.started(index).key}
    assert site.hits["/sitemap_index.xml"] == 1 and site.hits["/cut.xml.gz"] == 1
    assert sum(found.finished(url).url_count for url in found.sitemaps) == found.result.urls == len(found.urls)


def test_it_stops_probing_a_host_that_answers_one_page_to_every_path(site):
    site.answer_every_path("<!DOCTYPE html><html><body>Welcome to our app</body></html>")
    site.add("/robots.txt", f"Sitemap: {site.url('/real.xml')}\n", content_type="text/plain")
    site.add("/real.xml", urlset([site.url("/r")]))
    found = crawl(site, replace(LOCAL, concurrency=2))
    assert set(found.urls) == {site.url("/r")}
    assert set(found.sitemaps) == {site.url("/real.xml")}
    probed = sum(site.hits[path] for path in WELL_KNOWN_PATHS)
    assert 3 <= probed <= 8 < len(WELL_KNOWN_PATHS)  # three identical answers, and what was already under way


def test_a_caller_slow_to_read_does_not_let_probes_run_past_three_identical_answers(site):
    # The verdict "not a sitemap" is the caller's, after it has read the body; download threads
    # must not race ahead of it (the worker's caller is often busy storing another domain).
    site.answer_every_path("<!DOCTYPE html><html><body>Welcome to our app</body></html>")
    site.add("/robots.txt", f"Sitemap: {site.url('/real.xml')}\n", content_type="text/plain")
    site.add("/real.xml", urlset([site.url("/r")]))
    urls = set()
    for event in crawl_domain(site.host, replace(LOCAL, concurrency=2), scheme="http"):
        time.sleep(0.05)
        if isinstance(event, UrlChunk):
            urls.update(record.loc for record in event.urls)
    assert urls == {site.url("/r")}
    probed = sum(site.hits[path] for path in WELL_KNOWN_PATHS)
    assert 3 <= probed <= 5  # three identical answers, and at most one more per download thread


def test_it_still_finds_the_probed_sitemap_of_a_catch_all_host(site):
    site.answer_every_path("<html><body>app shell</body></html>")
    site.add("/sitemap.xml", urlset([site.url("/s")]))
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/s")}


def test_it_keeps_probes_that_answer_different_pages(site):
    for path in WELL_KNOWN_PATHS[:6]:
        site.add(path, f"<html><body>no sitemap at {path}</body></html>", content_type="text/html")
    site.add("/sitemap.txt", site.url("/t") + "\n", content_type="text/plain")
    found = crawl(site, LOCAL)
    assert set(found.urls) == {site.url("/t")}
    assert all(site.hits[path] == 1 for path in WELL_KNOWN_PATHS)


def test_it_probes_over_one_kept_alive_connection(site):
    site.add("/robots.txt", "User-agent: *\n", content_type="text/plain")
    site.add("/sitemap.xml", urlset([site.url("/a")]))
    found = crawl(site, replace(LOCAL, concurrency=1))
    assert set(found.urls) == {site.url("/a")}
    assert sum(site.hits.values()) == 1 + len(WELL_KNOWN_PATHS) + 1  # robots, probes, the home page
    assert site.connections == 1


def test_it_lists_a_named_sitemap_that_redirects_to_a_probed_path_under_robots(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/old-sitemap.xml')}\n", content_type="text/plain")
    site.redirect("/old-sitemap.xml", "/sitemap.xml")
    site.add("/sitemap.xml", urlset([site.url("/a")]))
    found = crawl(site, LOCAL)
    assert set(found.sitemaps) == {site.url("/old-sitemap.xml")}
    assert found.started(site.url("/old-sitemap.xml")).found_by == "robots"
    assert found.finished(site.url("/old-sitemap.xml")).final_url == site.url("/sitemap.xml")
    # the probe asked at once (no round trip lost waiting) but left its answer unread
    assert found.finished(site.url("/old-sitemap.xml")).url_count == found.result.urls == 1
