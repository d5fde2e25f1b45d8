"""End to end: form post -> batch -> django-q2 (sync mode) -> URLs stored -> pages show them."""

import pytest
from django.urls import reverse

from batches.models import Batch, BatchStatus, Domain, DomainStatus, SitemapFile, Url
from tests.sites import sitemapindex, urlset

pytestmark = pytest.mark.django_db


def three_sites(site_factory):
    sites = [site_factory() for _ in range(3)]
    a, b, c = sites
    a.add("/robots.txt", f"Sitemap: {a.url('/index.xml')}\n", content_type="text/plain")
    a.add("/index.xml", sitemapindex([a.url("/posts.xml"), a.url("/pages.xml")]))
    a.add("/posts.xml", urlset([a.url(f"/post/{i}") for i in range(5)], "<lastmod>2024-03-01T10:00:00+02:00</lastmod>"))
    a.add("/pages.xml", urlset([a.url("/"), a.url("/about"), a.url("/post/1")]))
    b.add("/sitemap.xml", urlset([b.url("/only")], "<changefreq>Weekly</changefreq><priority>0.8</priority>"))
    return sites


def test_a_pasted_batch_is_processed_and_its_urls_are_shown(owner_client, site_factory, q_sync,
                                                            django_capture_on_commit_callbacks):
    a, b, c = three_sites(site_factory)
    text = f"{a.host}\n{b.origin}/anything\nnot a domain\n{c.host}\n"

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("batch_new"), {"name": "Three sites", "domains": text})

    batch = Batch.objects.get()
    assert response.status_code == 302 and response.url == reverse("batch_detail", args=[batch.pk])
    assert batch.name == "Three sites"
    assert (batch.status, batch.domains_total, batch.domains_done, batch.domains_failed) == (
        BatchStatus.COMPLETED, 3, 3, 0)
    domain_a = Domain.objects.get(host=a.host)
    assert set(Url.objects.filter(domain=domain_a).values_list("loc", flat=True)) == {
        a.url(f"/post/{i}") for i in range(5)} | {a.url("/"), a.url("/about")}
    assert (domain_a.status, domain_a.sitemaps_count, domain_a.urls_count) == (DomainStatus.DONE, 3, 7)
    assert domain_a.origin == a.origin
    only = Url.objects.get(domain__host=b.host)
    assert (only.loc, only.changefreq, only.priority, only.lastmod) == (b.url("/only"), "weekly", 0.8, None)
    assert Domain.objects.get(host=c.host).urls_count == 0
    assert (batch.sitemaps_count, batch.urls_count) == (4, 8)
    assert SitemapFile.objects.filter(domain=domain_a, kind="urlset").count() == 2

    page = owner_client.get(reverse("batch_detail", args=[batch.pk])).content.decode()
    assert "Completed" in page and "100%" in page and f">{a.host}</a>" in page
    domain_page = owner_client.get(reverse("domain_detail", args=[batch.pk, domain_a.pk])).content.decode()
    assert a.url("/post/4") in domain_page and a.url("/index.xml") in domain_page
    status = owner_client.get(reverse("batch_status", args=[batch.pk])).json()
    assert (status["status"], status["progress"], status["urls"], status["finished"]) == ("completed", 100, 8, True)


def test_the_form_reports_invalid_lines_and_creates_nothing_when_none_is_valid(owner_client):
    response = owner_client.post(reverse("batch_new"), {"domains": "not a domain\nftp://x.example.com\n"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "No valid domain or URL" in page
    assert "Line 1: contains white space" in page
    assert "Line 2: unsupported scheme &#x27;ftp&#x27; (only http and https)" in page
    assert Batch.objects.count() == 0


def test_nothing_is_enqueued_before_the_transaction_commits(owner_client, site, q_sync,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        owner_client.post(reverse("batch_new"), {"domains": site.host})
    assert Domain.objects.get().status == DomainStatus.QUEUED
    assert len(callbacks) == 1
    callbacks[0]()
    assert Domain.objects.get().status == DomainStatus.DONE


def test_a_domain_that_cannot_be_reached_fails_with_a_readable_error(owner_client, q_sync,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("batch_new"), {"domains": "http://127.0.0.1:9/"})
    domain = Domain.objects.get()
    assert domain.status == DomainStatus.FAILED
    assert domain.error == "http://127.0.0.1:9: connection refused"
    assert Batch.objects.get().status == BatchStatus.FAILED


def test_another_users_batch_is_404(client, owner, other_user):
    from django.db import transaction

    from batches.entries import parse_text
    from batches.services import create_batch

    with transaction.atomic():
        batch = create_batch(owner, "mine", parse_text("example.com").entries, enqueue=False)
    client.force_login(other_user)
    assert client.get(reverse("batch_detail", args=[batch.pk])).status_code == 404
    assert client.get(reverse("batch_status", args=[batch.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("batch_detail", args=[batch.pk])).status_code == 302
