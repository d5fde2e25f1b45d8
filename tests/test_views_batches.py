"""The batch list, the new batch form, the batch page, its actions and its downloads."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from batches.models import Batch, BatchStatus, Domain, DomainStatus, Url
from tests.factories import T0, make_batch
from tests.sites import urlset

pytestmark = pytest.mark.django_db


def page_of(response):
    assert response.status_code == 200
    return response.content.decode()


# --- who sees what ------------------------------------------------------------------------

@pytest.fixture
def batch(owner):
    return make_batch(owner, domains=3, urls_per_domain=5, failed=1)


@pytest.mark.parametrize("name, args", [
    ("batch_detail", []), ("batch_status", []), ("batch_delete", []), ("batch_export", ["csv"]),
])
def test_other_users_batch_is_404_and_anonymous_is_sent_to_log_in(client, other_user, batch, name, args):
    url = reverse(name, args=[batch.pk, *args])
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response.url == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("action", ["cancel", "retry", "rerun"])
def test_other_users_batch_actions_are_404_and_change_nothing(client, other_user, batch, action):
    client.force_login(other_user)
    assert client.post(reverse("batch_action", args=[batch.pk, action])).status_code == 404
    assert client.post(reverse("batch_delete", args=[batch.pk])).status_code == 404
    assert Batch.objects.get(pk=batch.pk).status == BatchStatus.COMPLETED


def test_an_unknown_batch_id_is_404(owner_client):
    assert owner_client.get(reverse("batch_detail", args=[999999])).status_code == 404


def test_staff_can_open_any_batch_page_but_list_only_their_own(client, staff, batch):
    client.force_login(staff)
    assert "Competitors" in page_of(client.get(reverse("batch_detail", args=[batch.pk])))
    assert "Competitors" not in page_of(client.get(reverse("batch_list")))


def test_every_form_needs_a_csrf_token(owner, batch):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(reverse("batch_new"), {"domains": "example.com"}).status_code == 403
    assert client.post(reverse("batch_action", args=[batch.pk, "rerun"])).status_code == 403
    assert client.post(reverse("batch_delete", args=[batch.pk])).status_code == 403
    assert client.post(reverse("account"), {"name": "x"}).status_code == 403
    assert Batch.objects.count() == 1


# --- batch list -----------------------------------------------------------------------------

def test_the_list_shows_the_users_batches_newest_first_with_counters(owner_client, owner, other_user):
    old = make_batch(owner, name="Old batch", domains=2, urls_per_domain=3)
    Batch.objects.filter(pk=old.pk).update(created_at=T0 - timedelta(days=3))
    make_batch(owner, name="New batch", domains=4, urls_per_domain=10, failed=1)
    make_batch(other_user, name="Someone else's")
    page = page_of(owner_client.get(reverse("batch_list")))
    assert page.index("New batch") < page.index("Old batch")
    assert "Someone else" not in page
    assert "3 / <span class=\"error-text\">1</span> / 4" in page  # done / failed / total
    assert "Completed" in page and "1 min 23 s" in page
    # the bar shows done and failed domains as two parts
    assert 'data-seg="domains_done" style="width: 75%"' in page
    assert 'data-seg="domains_failed" style="width: 25%"' in page


def test_the_list_filters_by_status_and_paginates(owner_client, owner):
    for n in range(27):
        make_batch(owner, name=f"Batch {n:02d}", domains=1, urls_per_domain=0)
    make_batch(owner, name="Broken one", domains=1, failed=1, status=BatchStatus.FAILED)
    first = page_of(owner_client.get(reverse("batch_list")))
    assert first.count('<td class="name">') == 25 and "Page 1 of 2" in first
    second = page_of(owner_client.get(reverse("batch_list"), {"page": 2}))
    assert second.count('<td class="name">') == 3
    failed = page_of(owner_client.get(reverse("batch_list"), {"status": "failed"}))
    assert failed.count('<td class="name">') == 1 and "Broken one" in failed
    nothing = page_of(owner_client.get(reverse("batch_list"), {"status": "cancelled"}))
    assert "No batch is <strong>cancelled</strong>" in nothing


def test_the_list_runs_a_fixed_number_of_queries(owner_client, owner, django_assert_num_queries):
    for n in range(3):
        make_batch(owner, name=f"B{n}", domains=2)
    # session, user, count, page of batches
    with django_assert_num_queries(4):
        owner_client.get(reverse("batch_list"))
    for n in range(30):
        make_batch(owner, name=f"More {n}", domains=1)
    with django_assert_num_queries(4):
        owner_client.get(reverse("batch_list"))


# --- new batch ------------------------------------------------------------------------------

def test_valid_lines_make_a_batch_and_the_check_is_reported_on_its_page(owner_client):
    text = "example.com\nEXAMPLE.com\nnot a domain\n# comment\nftp://x.example.org\nexample.org\n"
    page = page_of(owner_client.post(reverse("batch_new"), {"domains": text}, follow=True))
    batch = Batch.objects.get()
    assert list(batch.domains.values_list("host", flat=True)) == ["example.com", "example.org"]
    assert "Batch created with 2 domains: 1 duplicate line merged, 2 invalid lines skipped." in page
    assert "Skipped line 3: contains white space: not a domain" in page
    assert "Skipped line 5: unsupported scheme &#x27;ftp&#x27; (only http and https): ftp://x.example.org" in page


def test_a_form_with_no_valid_line_is_shown_back_with_numbers_and_reasons(owner_client):
    text = "example.com\n" * 0 + "not a domain\n\nftp://x.example.org\nhttp://:80/\n"
    page = page_of(owner_client.post(reverse("batch_new"), {"domains": text, "name": "Keep me"}))
    assert "No valid domain or URL" in page
    assert '<span class="pill ok">0 valid</span>' in page
    assert '<span class="pill bad">3 invalid</span>' in page
    assert "Line 1: contains white space" in page
    assert "Line 3: unsupported scheme &#x27;ftp&#x27; (only http and https)" in page
    assert "Line 4: no host name" in page
    assert 'value="Keep me"' in page
    assert Batch.objects.count() == 0


def test_the_created_batch_reports_duplicates_and_skipped_lines_as_messages(owner_client):
    response = owner_client.post(reverse("batch_new"), {"domains": "a.example.com\nA.example.com\nbad line\n"},
                                 follow=True)
    page = page_of(response)
    assert "Batch created with 1 domain: 1 duplicate line merged, 1 invalid line skipped." in page
    assert "Skipped line 3: contains white space: bad line" in page


def test_the_web_form_refuses_more_domains_than_its_limit(owner_client, settings):
    settings.SITEMAPS_WEB_MAX_DOMAINS = 2
    page = page_of(owner_client.post(reverse("batch_new"), {"domains": "a.example.com\nb.example.com\nc.example.com"}))
    assert "3 domains is more than the 2 a web submission may hold" in page
    assert Batch.objects.count() == 0


def test_an_uploaded_csv_gives_its_first_column(owner_client):
    upload = SimpleUploadedFile("list.csv", b"domain,notes\nexample.com,first\n\"shop.example.org\",x\n", "text/csv")
    response = owner_client.post(reverse("batch_new"), {"name": "From CSV", "file": upload})
    batch = Batch.objects.get()
    assert response.status_code == 302
    assert list(batch.domains.values_list("host", flat=True)) == ["example.com", "shop.example.org"]
    # The header line is reported, not silently dropped.
    assert list(batch.domains.values_list("line_number", flat=True)) == [2, 3]


def test_an_uploaded_text_file_adds_to_the_pasted_lines_with_its_own_line_numbers(owner_client):
    upload = SimpleUploadedFile("list.txt", b"\xef\xbb\xbfone.example.com\nbad entry\n", "text/plain")
    page = page_of(owner_client.post(reverse("batch_new"), {"domains": "two.example.com", "file": upload},
                                     follow=True))
    assert "Skipped file line 2: contains white space: bad entry" in page
    assert list(Domain.objects.values_list("host", flat=True)) == ["two.example.com", "one.example.com"]


def test_an_upload_that_is_not_txt_or_csv_is_refused(owner_client):
    upload = SimpleUploadedFile("list.xlsx", b"PK\x03\x04", "application/octet-stream")
    page = page_of(owner_client.post(reverse("batch_new"), {"file": upload}))
    assert "Upload a .txt or .csv file." in page
    assert Batch.objects.count() == 0


def test_a_posted_batch_is_crawled_and_the_page_shows_its_results(owner_client, site, q_sync,
                                                                    django_capture_on_commit_callbacks):
    site.add("/sitemap.xml", urlset([site.url("/a"), site.url("/b")]))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("batch_new"), {"name": "Local", "domains": site.host})
    batch = Batch.objects.get()
    assert response.url == reverse("batch_detail", args=[batch.pk])
    page = page_of(owner_client.get(response.url))
    assert 'aria-valuenow="100"' in page and f'>{site.host}</a>' in page
    assert 'data-finished="true"' in page and "http-equiv=\"refresh\"" not in page


# --- batch page -----------------------------------------------------------------------------

def test_the_batch_page_shows_counters_domains_and_actions_for_a_finished_batch(owner_client, batch):
    page = page_of(owner_client.get(reverse("batch_detail", args=[batch.pk])))
    assert 'aria-valuenow="100"' in page
    assert '<dd data-count="urls">10</dd>' in page
    assert ">site1.example.com</a>" in page and "site3.example.com: connection refused" in page
    assert "Retry 1 failed" in page and "Run again" in page and "Cancel batch" not in page
    assert reverse("batch_export", args=[batch.pk, "csv"]) in page
    assert 'http-equiv="refresh"' not in page


def test_a_running_batch_page_refreshes_itself_without_javascript_and_offers_cancel(owner_client, owner):
    running = make_batch(owner, domains=2, status=BatchStatus.RUNNING)
    page = page_of(owner_client.get(reverse("batch_detail", args=[running.pk])))
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
    assert 'data-finished="false"' in page
    assert "Cancel batch" in page and "Run again" not in page


@pytest.mark.parametrize("show, hosts", [
    ("", ["site1.example.com", "site2.example.com", "site3.example.com"]),
    ("failed", ["site3.example.com"]),
    ("done", ["site1.example.com", "site2.example.com"]),
    ("running", []),
])
def test_the_domain_table_filters_by_status(owner_client, batch, show, hosts):
    page = page_of(owner_client.get(reverse("batch_detail", args=[batch.pk]), {"show": show}))
    shown = [h for h in ("site1.example.com", "site2.example.com", "site3.example.com") if f"{h}</a>" in page]
    assert shown == hosts


def test_the_domain_table_paginates_with_the_batch_counter_as_total(owner_client, owner):
    big = make_batch(owner, domains=130, urls_per_domain=0)
    first = page_of(owner_client.get(reverse("batch_detail", args=[big.pk])))
    assert "Page 1 of 2" in first and "site100.example.com</a>" in first and "site101.example.com</a>" not in first
    second = page_of(owner_client.get(reverse("batch_detail", args=[big.pk]), {"page": 2}))
    assert "site130.example.com</a>" in second and "site100.example.com</a>" not in second


def test_it_pages_queued_domains_by_the_counters_without_counting_them(owner_client, owner,
                                                                         django_assert_num_queries):
    big = make_batch(owner, domains=130, urls_per_domain=0, status=BatchStatus.RUNNING)
    big.domains.filter(position__gt=2).update(status=DomainStatus.QUEUED)
    big.domains.filter(position=2).update(status=DomainStatus.RUNNING)
    Batch.objects.filter(pk=big.pk).update(domains_done=1)
    # session, user, batch, running domains (a handful, on their index), page of domains,
    # findings by code
    with django_assert_num_queries(6) as queries:
        page = page_of(owner_client.get(reverse("batch_detail", args=[big.pk]), {"show": "queued"}))
    assert not any("status\" = 'queued'" in q["sql"] and "COUNT" in q["sql"] for q in queries.captured_queries)
    assert "Page 1 of 2" in page and "site3.example.com</a>" in page and "site2.example.com</a>" not in page


def test_the_batch_page_runs_a_fixed_number_of_queries_whatever_the_size(owner_client, owner,
                                                                       django_assert_num_queries):
    small = make_batch(owner, domains=2, urls_per_domain=2, failed=1)
    big = make_batch(owner, domains=150, urls_per_domain=20, failed=10)
    for batch in (small, big):
        # session, user, batch, page of domains (the total comes from the batch's counter),
        # failed domains by error code, findings by code
        with django_assert_num_queries(6):
            owner_client.get(reverse("batch_detail", args=[batch.pk]))
        with django_assert_num_queries(6):
            owner_client.get(reverse("batch_detail", args=[batch.pk]), {"show": "failed"})
        with django_assert_num_queries(3):
            owner_client.get(reverse("batch_status", args=[batch.pk]))


def test_the_status_endpoint_answers_the_polling_script(owner_client, batch):
    status = owner_client.get(reverse("batch_status", args=[batch.pk])).json()
    assert status == {
        "id": batch.pk, "name": "Competitors", "status": "completed", "status_label": "Completed",
        "finished": True, "progress": 100, "domains": 3, "domains_done": 2, "domains_failed": 1,
        "domains_cancelled": 0, "domains_finished": 3, "sitemaps": 4, "urls": 10,
        "created_at": batch.created_at.isoformat(), "started_at": "2024-01-15T12:00:00+00:00",
        "finished_at": "2024-01-15T12:01:23+00:00",
    }


# --- actions ----------------------------------------------------------------------------------

def test_cancel_stops_a_pending_batch(owner_client, owner):
    from django.db import transaction

    from batches.entries import parse_text
    from batches.services import create_batch

    with transaction.atomic():
        pending = create_batch(owner, "pending", parse_text("a.example.com\nb.example.com").entries, enqueue=False)
    response = owner_client.post(reverse("batch_action", args=[pending.pk, "cancel"]), follow=True)
    assert "Batch cancelled" in page_of(response)
    pending.refresh_from_db()
    assert (pending.status, pending.domains_cancelled) == (BatchStatus.CANCELLED, 2)
    assert set(pending.domains.values_list("status", flat=True)) == {DomainStatus.CANCELLED}


def test_cancel_on_a_finished_batch_says_so(owner_client, batch):
    response = owner_client.post(reverse("batch_action", args=[batch.pk, "cancel"]), follow=True)
    assert "The batch had already finished." in page_of(response)


def test_retry_failed_requeues_only_the_failed_domain_and_runs_it(owner_client, batch, q_sync, site,
                                                                  django_capture_on_commit_callbacks):
    failed = batch.domains.get(status=DomainStatus.FAILED)
    Domain.objects.filter(pk=failed.pk).update(host=site.host, scheme="http")
    site.add("/sitemap.xml", urlset([site.url("/back")]))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("batch_action", args=[batch.pk, "retry"]), follow=True)
    assert "1 failed or cancelled domain queued again." in page_of(response)
    batch.refresh_from_db()
    assert (batch.status, batch.domains_done, batch.domains_failed, batch.urls_count) == (
        BatchStatus.COMPLETED, 3, 0, 11)


def test_run_again_creates_a_new_batch_and_leaves_this_one_as_it_was(owner_client, batch,
                                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(reverse("batch_action", args=[batch.pk, "rerun"]), follow=True)
    rerun = Batch.objects.get(previous=batch)
    assert response.redirect_chain[-1][0] == rerun.get_absolute_url()
    assert f"Running again as a new batch (3 domains); batch {batch.pk} keeps its results." in page_of(response)
    assert set(Domain.objects.filter(batch=rerun).values_list("status", flat=True)) == {DomainStatus.QUEUED}
    assert set(Domain.objects.filter(batch=batch).values_list("status", flat=True)) == {DomainStatus.DONE, DomainStatus.FAILED}


def test_actions_refuse_get(owner_client, batch):
    assert owner_client.get(reverse("batch_action", args=[batch.pk, "rerun"])).status_code == 405


def test_delete_asks_for_confirmation_then_deletes_everything(owner_client, batch, q_sync,
                                                               django_capture_on_commit_callbacks):
    confirm = page_of(owner_client.get(reverse("batch_delete", args=[batch.pk])))
    assert "This removes the batch, its 3 domains, 4 sitemap files and 10 URLs." in confirm
    assert Batch.objects.filter(pk=batch.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("batch_delete", args=[batch.pk]), follow=True)
    assert "Batch “Competitors” deleted." in page_of(response)
    assert owner_client.get(reverse("batch_detail", args=[batch.pk])).status_code == 404
    assert not Batch.objects.exists() and not Url.objects.exists()


# --- downloads ------------------------------------------------------------------------------

def test_the_csv_download_streams_every_url_with_the_export_columns(owner_client, batch):
    response = owner_client.get(reverse("batch_export", args=[batch.pk, "csv"]))
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="batch-{batch.pk}-urls.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["domain", "sitemap_url", "loc", "lastmod", "changefreq", "priority", "extras"]
    assert len(rows) == 11
    assert rows[1] == ["site1.example.com", "https://site1.example.com/posts.xml", "https://site1.example.com/post/0",
                       "2024-01-15T12:00:00+00:00", "weekly", "0.5", ""]


def test_the_jsonl_download_has_one_object_per_url(owner_client, batch):
    response = owner_client.get(reverse("batch_export", args=[batch.pk, "jsonl"]))
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 10
    assert json.loads(lines[-1]) == {
        "domain": "site2.example.com", "sitemap_url": "https://site2.example.com/posts.xml",
        "loc": "https://site2.example.com/post/4", "lastmod": "2024-05-15T12:00:00+00:00",
        "changefreq": "weekly", "priority": 0.5, "extras": None,
    }


def test_the_host_column_reads_the_same_while_queued_and_once_done(owner_client, batch):
    """Live updates swap the table in: a row must not jump from host to origin as its domain ends."""
    Domain.objects.filter(batch=batch, position=2).update(status=DomainStatus.QUEUED, origin="")
    page = page_of(owner_client.get(reverse("batch_detail", args=[batch.pk])))
    names = re.findall(r'<td class="name"><a href="[^"]+">([^<]+)</a>', page)
    assert names == ["site1.example.com", "site2.example.com", "site3.example.com"]
