"""The admin: staff inspect every batch; big tables never count or sort whole tables."""

import re

import pytest
from django.urls import reverse

from batches.models import ApiToken, Batch, BatchStatus, DomainStatus
from tests.factories import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def batch(owner):
    return make_batch(owner, name="Competitors", domains=3, urls_per_domain=4, failed=1)


def changelist(model):
    return reverse(f"admin:batches_{model}_changelist")


def result_rows(page):
    return page.split('id="result_list"')[1].split("<tbody>")[1].split("</tbody>")[0].count("<tr")


def test_staff_see_every_users_batch_with_progress_and_links(admin_client, batch, other_user):
    make_batch(other_user, name="Someone else's")
    page = admin_client.get(changelist("batch")).content.decode()
    assert "Competitors" in page and "Someone else" in page
    assert '<span class="sba-progress"><span style="width:100%"></span></span> 100%' in page
    assert "2 / 1 / 3" in page
    assert f'{changelist("domain")}?batch__id__exact={batch.pk}&amp;status__exact=failed' in page
    assert f'{changelist("url")}?domain__batch__id__exact={batch.pk}' in page


def test_non_staff_users_cannot_open_the_admin(owner_client, batch):
    response = owner_client.get(changelist("batch"))
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


def test_batches_filter_by_status_and_search_by_name_or_domain(admin_client, owner, batch):
    make_batch(owner, name="Other", domains=1, status=BatchStatus.FAILED)
    by_status = admin_client.get(changelist("batch"), {"status__exact": "failed"}).content.decode()
    assert "Other" in by_status and "Competitors" not in by_status
    by_domain = admin_client.get(changelist("batch"), {"q": "site3.example"}).content.decode()
    assert "Competitors" in by_domain and "1 result" in by_domain
    assert admin_client.get(changelist("batch"), {"created_at__year": "2024"}).status_code == 200


@pytest.mark.parametrize("model, params, expected_rows", [
    ("domain", {"batch__id__exact": "BATCH"}, 3),
    ("domain", {"batch__id__exact": "BATCH", "status__exact": "failed"}, 1),
    ("sitemapfile", {"domain__batch__id__exact": "BATCH"}, 4),
    ("url", {"domain__batch__id__exact": "BATCH"}, 8),
])
def test_rows_of_a_batch_open_with_the_filter_set(admin_client, batch, model, params, expected_rows):
    params = {key: batch.pk if value == "BATCH" else value for key, value in params.items()}
    response = admin_client.get(changelist(model), params)
    page = response.content.decode()
    assert response.status_code == 200
    assert result_rows(page) == expected_rows


def test_urls_of_one_domain_and_one_domain_sitemaps(admin_client, batch):
    domain = batch.domains.get(position=1)
    urls = admin_client.get(changelist("url"), {"domain__id__exact": domain.pk}).content.decode()
    assert result_rows(urls) == 4
    files = admin_client.get(changelist("sitemapfile"), {"domain__id__exact": domain.pk}).content.decode()
    assert result_rows(files) == 2


def test_the_url_changelist_never_counts_the_whole_table(admin_client, batch, django_assert_max_num_queries):
    with django_assert_max_num_queries(8) as captured:
        admin_client.get(changelist("url"))
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert "LIMIT 100001" in sql  # the capped count
    assert sql.count("COUNT(") == 1


def test_admin_actions_retry_failed_domains_and_cancel(admin_client, batch, owner,
                                                       django_capture_on_commit_callbacks):
    running = make_batch(owner, name="Running", domains=2, status=BatchStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(changelist("batch"), {"action": "retry_failed_domains", "_selected_action": [batch.pk]})
    assert batch.domains.get(position=3).status == DomainStatus.QUEUED
    admin_client.post(changelist("batch"), {"action": "cancel_batches", "_selected_action": [running.pk]})
    assert Batch.objects.get(pk=running.pk).status == BatchStatus.CANCELLED


def test_admin_objects_link_to_their_pages(admin_client, batch):
    domain = batch.domains.get(position=1)
    url = domain.urls.first()
    page = admin_client.get(reverse("admin:batches_batch_change", args=[batch.pk])).content.decode()
    assert "View on site" in page
    for model, obj in (("domain", domain), ("sitemapfile", domain.sitemaps.first()), ("url", url)):
        page = admin_client.get(reverse(f"admin:batches_{model}_change", args=[obj.pk])).content.decode()
        assert "View on site" in page, model
    view_on_site = re.search(r'href="([^"]+)" class="viewsitelink"', page).group(1)
    assert view_on_site == reverse("domain_detail", args=[batch.pk, domain.pk])


def test_creating_a_token_in_the_admin_shows_its_key_once_and_stores_its_hash(admin_client, owner):
    response = admin_client.post(reverse("admin:batches_apitoken_add"), {"user": owner.pk, "name": "cron"})
    page = response.content.decode()
    raw = re.search(r'value="(sba_[^"]+)"', page).group(1)
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.digest) == (owner, "cron", ApiToken.hash(raw))
    assert raw not in admin_client.get(reverse("admin:batches_apitoken_change", args=[token.pk])).content.decode()


def test_deleting_a_batch_in_the_admin_goes_through_delete_batch(admin_client, batch, q_sync,
                                                                 django_capture_on_commit_callbacks):
    from batches.models import Url

    confirm = admin_client.get(reverse("admin:batches_batch_delete", args=[batch.pk])).content.decode()
    assert "Competitors (3 domains, 8 URLs)" in confirm
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:batches_batch_delete", args=[batch.pk]), {"post": "yes"})
    assert not Batch.objects.exists() and not Url.objects.exists()


def test_rows_of_a_batch_cannot_be_deleted_one_by_one(admin_client, batch):
    domain = batch.domains.first()
    assert admin_client.get(reverse("admin:batches_domain_delete", args=[domain.pk])).status_code == 403


def test_the_stuck_filter_lists_running_domains_whose_heartbeat_stopped(admin_client, batch, settings):
    from datetime import timedelta

    from django.utils import timezone

    from batches.models import Domain

    settings.SITEMAPS_STUCK_AFTER = 600
    long_ago = timezone.now() - timedelta(seconds=900)
    stuck = batch.domains.get(position=1)
    Domain.objects.filter(pk=stuck.pk).update(status=DomainStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    fresh = batch.domains.get(position=2)
    Domain.objects.filter(pk=fresh.pk).update(
        status=DomainStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now())

    page = admin_client.get(changelist("domain"), {"stuck": "yes"}).content.decode()

    assert "Stuck for more than 10 minutes" in page
    assert result_rows(page) == 1
    assert stuck.host in page and fresh.host not in page.split('id="result_list"')[1]


# --- Staff cannot make broken data (issue 14, item 6) ---------------------------------------

def test_add_batch_leads_to_the_new_batch_page_and_creates_nothing(admin_client):
    response = admin_client.get(reverse("admin:batches_batch_add"))
    assert (response.status_code, response["Location"]) == (302, reverse("batch_new"))
    admin_client.post(reverse("admin:batches_batch_add"), {"name": "empty", "owner": 1})
    assert Batch.objects.count() == 0


def test_a_batch_change_keeps_status_counters_and_owner(admin_client, batch, other_user):
    admin_client.post(reverse("admin:batches_batch_change", args=[batch.pk]), {
        "name": "Renamed", "owner": other_user.pk, "status": "pending", "domains_total": 99, "urls_count": 0})
    batch.refresh_from_db()
    assert (batch.name, batch.owner.username, batch.status, batch.domains_total, batch.urls_count) == (
        "Renamed", "owner", BatchStatus.COMPLETED, 3, 8)


@pytest.mark.parametrize("model", ["domain", "sitemapfile", "url", "hostslot"])
def test_crawl_rows_and_internal_tables_offer_no_add_form(admin_client, model):
    add = reverse(f"admin:batches_{model}_add")
    assert admin_client.get(add).status_code == 403
    assert f'href="{add}"' not in admin_client.get(changelist(model)).content.decode()


def test_a_domain_opens_read_only_and_a_post_changes_nothing(admin_client, batch):
    domain = batch.domains.get(position=1)
    url = reverse("admin:batches_domain_change", args=[domain.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="status"' not in page and 'name="urls_count"' not in page and 'name="batch"' not in page
    assert admin_client.post(url, {"status": "queued", "urls_count": 0, "batch": batch.pk}).status_code == 403
    domain.refresh_from_db()
    assert (domain.status, domain.urls_count) == (DomainStatus.DONE, 4)


def test_action_messages_count_in_the_singular_for_one(admin_client, batch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(changelist("batch"), {"action": "retry_failed_domains",
                                                           "_selected_action": [batch.pk]}, follow=True)
    assert "1 failed domain queued again." in response.content.decode()
