"""The sitemap audit (batches/sitemaps/audit.py): engine events in, findings out, no database
(the models are imported only to check that both sides share one vocabulary)."""

from datetime import datetime, timezone

import pytest

from batches.models import DomainErrorCode
from batches.models import FindingCode as ModelFindingCode
from batches.sitemaps import CrawlConfig
from batches.sitemaps.audit import (
    Finding, FindingCode, SitemapAudit, domain_error_code, sitemap_problem,
)
from batches.sitemaps.records import (
    CrawlFinished, DomainError, SitemapFinished, SitemapProblem, SitemapStarted, SkipReason, UrlChunk, UrlRecord,
)
from tests.sites import crawl, sitemapindex, urlset

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
ORIGIN = "https://example.com"


def audit_of(*events, duplicates=None):
    audit = SitemapAudit("example.com", now=NOW)
    for event in events:
        audit.observe(event)
    for key, count in (duplicates or {}).items():
        audit.count_duplicates(key, count)
    return audit


def codes(audit):
    return {(finding.code, finding.sitemap_key) for finding in audit.findings()}


def done(**fields):
    return CrawlFinished(origin=ORIGIN, robots_status=200, **fields)


def started(key, path, parent=None, found_by="robots"):
    return SitemapStarted(key, ORIGIN + path, parent, found_by)


def test_it_finds_nothing_wrong_with_a_clean_sitemap():
    audit = audit_of(
        started(1, "/sitemap.xml"),
        UrlChunk(1, [UrlRecord(ORIGIN + "/a", datetime(2025, 5, 1, tzinfo=timezone.utc)), UrlRecord(ORIGIN + "/b")]),
        SitemapFinished(1, kind="urlset", http_status=200, url_count=2, bytes=300),
        done(sitemaps=1, urls=2),
    )
    assert audit.findings() == []


def test_it_counts_misplaced_locs_by_rule_with_one_example_each():
    audit = audit_of(
        started(1, "/blog/sitemap.xml"),
        UrlChunk(1, [
            UrlRecord(ORIGIN + "/blog/ok"),
            UrlRecord("https://other.example.net/blog/x"),
            UrlRecord("https://other.example.net/blog/y"),
            UrlRecord("http://example.com/blog/z"),
            UrlRecord(ORIGIN + "/shop/w"),
            UrlRecord(ORIGIN + "/blog/later", datetime(2025, 7, 1, tzinfo=timezone.utc)),
        ]),
        SitemapFinished(1, kind="urlset", http_status=200, url_count=6),
        done(sitemaps=1, urls=6),
    )
    found = {f.code: f for f in audit.findings()}
    assert set(found) == {"cross_host_url", "scheme_mismatch", "outside_scope", "future_lastmod"}
    assert found["cross_host_url"] == Finding(
        "cross_host_url", 1, 2, "2 URLs on another host than the sitemap's, e.g. https://other.example.net/blog/x")
    assert (found["scheme_mismatch"].count, found["outside_scope"].count, found["future_lastmod"].count) == (1, 1, 1)


def test_it_reports_each_file_problem_under_its_code():
    audit = audit_of(
        started(1, "/missing.xml"), SitemapFinished(1, http_status=404, error="HTTP 404"),
        started(2, "/page.xml"), SitemapFinished(2, kind="not_sitemap", http_status=200, content_type="text/html"),
        started(3, "/broken.xml"),
        SitemapFinished(3, kind="urlset", http_status=200, url_count=3, error_code=SitemapProblem.XML_ERROR,
                        error="XML error: the document ends before its closing tags (truncated file?)"),
        started(4, "/bad.xml.gz"),
        SitemapFinished(4, kind="urlset", http_status=200, error_code=SitemapProblem.COMPRESSION_ERROR,
                        error="truncated gzip stream"),
        started(5, "/empty.xml"), SitemapFinished(5, kind="urlset", http_status=200),
        started(6, "/huge.xml"), SitemapFinished(6, kind="urlset", http_status=200, url_count=50_001,
                                                 bytes=52_428_801),
        started(7, "/moved.xml"), SitemapFinished(7, kind="urlset", http_status=200, url_count=1,
                                                  final_url=ORIGIN + "/new.xml"),
        started(8, "/dead.xml"), SitemapFinished(8, error="connection refused"),
        done(sitemaps=8),
    )
    assert codes(audit) == {
        ("http_error", 1), ("not_a_sitemap", 2), ("xml_error", 3), ("compression_error", 4),
        ("empty_sitemap", 5), ("too_many_urls", 6), ("too_large", 6), ("redirected", 7), ("http_error", 8),
    }
    details = {(f.code, f.sitemap_key): f.detail for f in audit.findings()}
    assert details[("http_error", 1)] == "HTTP 404"
    assert details[("http_error", 8)] == "connection refused"
    assert details[("redirected", 7)] == "redirected to https://example.com/new.xml"


def test_it_turns_skip_reasons_into_counted_findings():
    audit = audit_of(
        started(1, "/sitemap.xml"),
        SitemapFinished(1, kind="urlset", http_status=200, url_count=5, skipped=6, skipped_by_reason={
            SkipReason.INVALID_LOC: 2, SkipReason.HTML_ENTITY: 1, SkipReason.LOC_TOO_LONG: 3,
            SkipReason.INVALID_LASTMOD: 4,
        }),
        done(sitemaps=1, urls=5),
    )
    counts = {f.code: f.count for f in audit.findings()}
    assert counts == {"invalid_loc": 3, "loc_too_long": 3, "invalid_lastmod": 4}


def test_it_counts_duplicates_the_worker_reports_and_nested_indexes():
    audit = audit_of(
        started(1, "/index.xml"), started(2, "/inner-index.xml", parent=1, found_by="index"),
        started(3, "/posts.xml", parent=2, found_by="index"),
        SitemapFinished(3, kind="urlset", http_status=200, url_count=4),
        SitemapFinished(2, kind="index", http_status=200),
        SitemapFinished(1, kind="index", http_status=200),
        done(sitemaps=3, urls=4),
        duplicates={3: 2},
    )
    found = {(f.code, f.sitemap_key): f for f in audit.findings()}
    assert set(found) == {("index_nested", 1), ("duplicate_url", 3)}
    assert found[("duplicate_url", 3)].count == 2


def test_it_reports_robots_problems_and_sitemaps_robots_does_not_list():
    probe = (started(1, "/sitemap.xml", found_by="well_known"),
             SitemapFinished(1, kind="urlset", http_status=200, url_count=1))
    assert codes(audit_of(*probe, done())) == {("not_in_robots", None)}
    missing = CrawlFinished(origin=ORIGIN, robots_status=404)
    assert codes(audit_of(*probe, missing)) == {("robots_missing", None)}
    broken = CrawlFinished(origin=ORIGIN, robots_status=503)
    assert codes(audit_of(broken)) == {("robots_error", None), ("no_sitemap", None)}
    unreachable = CrawlFinished(origin=ORIGIN, robots_error="connection reset by the server")
    assert codes(audit_of(unreachable)) == {("robots_error", None), ("no_sitemap", None)}


def test_a_domain_that_never_answered_has_no_findings_only_an_error_code():
    failed = CrawlFinished(error="https://x.invalid: the host name does not resolve", error_code=DomainError.DNS)
    assert audit_of(failed).findings() == []
    assert domain_error_code(failed) == "dns"


@pytest.mark.parametrize("error, code", [
    ("https://a.invalid: the host name does not resolve; http://a.invalid: the host name does not resolve", "dns"),
    ("https://127.0.0.1:9: connection refused; http://127.0.0.1:9: connection refused", "refused"),
    ("http://127.0.0.1:9: connection timed out", "timeout"),
    ("https://a: TLS handshake failed; http://a: connection refused", "tls"),
    ("http://a: refused to fetch a: it resolves to a private address (10.0.0.1)", "blocked"),
    ("no sitemap could be read: XML error: Start tag expected", "no_readable_sitemap"),
    ("internal error: ValueError()", "internal"),
])
def test_it_derives_the_domain_code_from_todays_error_text(error, code):
    assert domain_error_code(CrawlFinished(error=error)) == code


def test_a_code_set_by_the_engine_wins_over_the_text():
    assert domain_error_code(CrawlFinished(error="whatever", error_code=DomainError.DEADLINE)) == "deadline"
    finished = SitemapFinished(1, error="whatever", error_code=SitemapProblem.TOO_LARGE)
    assert sitemap_problem(finished) == "too_large"


def test_the_vocabulary_matches_the_models():
    engine_codes = {v for k, v in vars(FindingCode).items() if k.isupper()}
    assert engine_codes == set(ModelFindingCode.values)
    assert {v for k, v in vars(DomainError).items() if k.isupper()} == set(DomainErrorCode.values)


# --- against real fixture sites: what today's engine and the coming one both report ------------
def crawled_audit(site, **config):
    result = crawl(site, CrawlConfig(allow_private_hosts=True, retries=0, **config))
    audit = SitemapAudit(site.host)
    for event in result.events:
        audit.observe(event)
    urls = {e.url: e.key for e in result.events if isinstance(e, SitemapStarted)}
    return audit, urls


def test_it_audits_a_crawled_site_with_several_problems(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/index.xml')}\n", content_type="text/plain")
    site.add("/index.xml", sitemapindex([site.url("/posts.xml"), site.url("/gone.xml"), site.url("/html.xml")]))
    site.add("/posts.xml", urlset([site.url("/a"), "https://elsewhere.example/b", site.url("/c")]))
    site.add("/html.xml", "<!doctype html><html><body>Not here</body></html>", content_type="text/html")
    audit, keys = crawled_audit(site, probe_well_known=False)
    assert codes(audit) == {
        ("cross_host_url", keys[site.url("/posts.xml")]),
        ("http_error", keys[site.url("/gone.xml")]),
        ("not_a_sitemap", keys[site.url("/html.xml")]),
    }


def test_it_reports_a_probed_sitemap_robots_does_not_list_and_an_empty_one(site):
    site.add("/robots.txt", "User-agent: *\nDisallow:\n", content_type="text/plain")
    site.add("/sitemap.xml", urlset([]))
    audit, keys = crawled_audit(site)
    assert codes(audit) == {("empty_sitemap", keys[site.url("/sitemap.xml")]), ("not_in_robots", None)}


def test_it_reports_damaged_xml_and_keeps_counting(site):
    site.add("/robots.txt", f"Sitemap: {site.url('/s.xml')}\n", content_type="text/plain")
    site.add("/s.xml", urlset([site.url("/a"), site.url("/b")])[:-len("</urlset>")] + "<url><loc>")
    audit, keys = crawled_audit(site, probe_well_known=False)
    assert codes(audit) == {("xml_error", keys[site.url("/s.xml")])}
