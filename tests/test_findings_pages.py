"""The pages and admin filters that answer "why did these fail" and "what is wrong with these sitemaps"."""

import html
import re

import pytest
from django.urls import reverse

from batches.models import Batch, Domain, DomainErrorCode, DomainStatus, Finding, SitemapFile
from tests.factories import make_batch

pytestmark = pytest.mark.django_db


def text_of(response):
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.fixture
def batch(owner):
    """Six domains: three done (two with findings), two failed with dns, one failed refused."""
    batch = make_batch(owner, domains=6, urls_per_domain=2, failed=3)
    domains = list(batch.domains.order_by("position"))
    for domain, code in zip(domains[3:], ["dns", "dns", "refused"]):
        Domain.objects.filter(pk=domain.pk).update(error_code=code)
    for domain in domains[:2]:
        sitemap = domain.sitemaps.get(url__endswith="/posts.xml")
        Finding.objects.create(batch=batch, domain=domain, sitemap=sitemap, code="cross_host_url", count=4,
                               detail="4 URLs on another host than the sitemap's")
    Finding.objects.create(batch=batch, domain=domains[0], code="not_in_robots", detail="not listed")
    return batch


def hosts(response):
    return [row.host for row in response.context["page"].object_list]


def test_the_batch_page_sums_up_failures_by_code_and_findings_by_code(owner_client, batch):
    response = owner_client.get(batch.get_absolute_url())
    assert response.context["error_summary"] == [("dns", "Name does not resolve", 2),
                                                 ("refused", "Connection refused", 1)]
    assert response.context["finding_summary"] == [("cross_host_url", "URL on another host", 2, 8),
                                                   ("not_in_robots", "Not in robots.txt", 1, 1)]
    page = response.content.decode()
    assert 'href="?show=failed&amp;error=dns#domain-table"' in page
    assert 'href="?finding=cross_host_url#domain-table"' in page


def test_the_summary_links_filter_the_domain_list(owner_client, batch):
    url = batch.get_absolute_url()
    assert hosts(owner_client.get(url, {"show": "failed", "error": "dns"})) == [
        "site4.example.com", "site5.example.com"]
    assert hosts(owner_client.get(url, {"finding": "cross_host_url"})) == ["site1.example.com", "site2.example.com"]
    assert hosts(owner_client.get(url, {"finding": "not_in_robots", "show": "failed"})) == []
    assert hosts(owner_client.get(url, {"finding": "no-such-code"})) == [f"site{n}.example.com" for n in range(1, 7)]


def test_every_tab_has_a_count_and_cancelled_has_a_tab(owner_client, batch):
    Domain.objects.filter(host="site6.example.com").update(status=DomainStatus.CANCELLED)
    Batch.objects.filter(pk=batch.pk).update(domains_failed=2, domains_cancelled=1)
    response = owner_client.get(batch.get_absolute_url())
    assert response.context["tabs"] == [("", "All", 6), ("failed", "Failed", 2), ("running", "Running", 0),
                                        ("queued", "Queued", 0), ("done", "Done", 3), ("cancelled", "Cancelled", 1)]
    assert hosts(owner_client.get(batch.get_absolute_url(), {"show": "cancelled"})) == ["site6.example.com"]
    assert "Cancelled 1" in text_of(response)


def test_the_domain_table_searches_hosts_and_sorts(owner_client, batch):
    url = batch.get_absolute_url()
    Domain.objects.filter(host="site2.example.com").update(urls_count=99)
    assert hosts(owner_client.get(url, {"q": "SITE5"})) == ["site5.example.com"]
    assert hosts(owner_client.get(url, {"sort": "urls"}))[:2] == ["site2.example.com", "site1.example.com"]
    assert hosts(owner_client.get(url, {"sort": "host", "show": "failed"})) == [
        "site4.example.com", "site5.example.com", "site6.example.com"]
    assert "No domain matches." in text_of(owner_client.get(url, {"q": "nowhere"}))


def test_the_domain_page_lists_findings_and_robots_and_a_failure_says_why(owner_client, batch):
    first = batch.domains.get(host="site1.example.com")
    Domain.objects.filter(pk=first.pk).update(robots_status=200, robots_bytes=2048, findings_count=2)
    page = text_of(owner_client.get(first.get_absolute_url()))
    assert "Findings 2" in page
    assert "cross_host_url https://site1.example.com/posts.xml 4 4 URLs on another host than the sitemap's" in page
    assert "not_in_robots the domain 1 not listed" in page
    assert "robots.txt https://site1.example.com/robots.txt HTTP 200, 2.0 KB" in page
    failed = batch.domains.get(host="site4.example.com")
    page = text_of(owner_client.get(failed.get_absolute_url()))
    assert "Failed (Name does not resolve, dns ):" in page
    assert "No sitemap was read: https://site4.example.com: connection refused" in page


def test_the_admin_filters_domains_by_error_code_and_sitemaps_by_status_and_finding(admin_client, batch):
    response = admin_client.get(reverse("admin:batches_domain_changelist"), {"error_code": "dns"})
    assert sorted(d.host for d in response.context["cl"].result_list) == ["site4.example.com", "site5.example.com"]
    SitemapFile.objects.filter(url="https://site3.example.com/posts.xml").update(http_status=404)
    response = admin_client.get(reverse("admin:batches_sitemapfile_changelist"), {"http": "4xx"})
    assert [s.url for s in response.context["cl"].result_list] == ["https://site3.example.com/posts.xml"]
    response = admin_client.get(reverse("admin:batches_sitemapfile_changelist"), {"finding": "cross_host_url"})
    assert sorted(s.url for s in response.context["cl"].result_list) == [
        "https://site1.example.com/posts.xml", "https://site2.example.com/posts.xml"]


def test_the_batch_page_queries_stay_constant_with_10000_domains_and_100000_findings(
        owner_client, owner, django_assert_num_queries):
    small = make_batch(owner, name="small", domains=2, urls_per_domain=1, failed=1)
    Finding.objects.create(batch=small, domain=small.domains.first(), code="duplicate_url")
    big = Batch.objects.create(owner=owner, name="big", status="completed", domains_total=10_000,
                               domains_failed=5_000, domains_done=5_000)
    codes = list(DomainErrorCode.values)
    Domain.objects.bulk_create(
        [Domain(batch=big, position=n, entry=f"d{n}.example", host=f"d{n}.example",
                status=DomainStatus.FAILED if n % 2 else DomainStatus.DONE,
                error_code=codes[n % len(codes)] if n % 2 else "") for n in range(10_000)],
        batch_size=2000)
    ids = list(big.domains.values_list("pk", flat=True))
    finding_codes = ["cross_host_url", "duplicate_url", "not_in_robots", "invalid_lastmod", "http_error"]
    Finding.objects.bulk_create(
        (Finding(batch=big, domain_id=ids[n % len(ids)], code=finding_codes[n % 5], count=n % 7 + 1)
         for n in range(100_000)), batch_size=5000)
    for batch in (small, big):
        # session, user, batch, page of domains, failed domains by error code, findings by code
        with django_assert_num_queries(6):
            owner_client.get(batch.get_absolute_url())
        # a filter by finding adds the COUNT of its matches (then the page of them)
        with django_assert_num_queries(7):
            owner_client.get(batch.get_absolute_url(), {"finding": "duplicate_url", "sort": "host"})
    summary = owner_client.get(big.get_absolute_url()).context["finding_summary"]
    assert [(code, domains) for code, _, domains, _ in summary] == [(code, 2_000) for code in sorted(finding_codes)]
