"""The batch's history pages: Run again, Repeat, the Changes page and its download."""

import pytest
from django.urls import reverse
from django_q.models import Schedule

from batches.models import Batch, Repeat
from tests.factories import make_batch
from tests.rerun_sites import csv_rows, two_runs  # noqa: F401 (a fixture)


def page_of(response):
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_changes_page_lists_what_changed_and_which_sitemaps_moved(two_runs, client, site):
    first, second, _, _ = two_runs
    client.force_login(second.owner)
    page = page_of(client.get(reverse("batch_changes", args=[second.pk])))
    assert f"against batch <a href=\"{first.get_absolute_url()}\">{first.pk}</a>" in page
    for loc in ("/a4", "/w1", "/a3", "/g1", "/o1", "/a2"):
        assert site.url(loc) in page
    assert f"appeared: {site.url('/new.xml')}" in page
    assert f"vanished: {site.url('/gone.xml')}" in page
    assert f"started failing: {site.url('/old.xml')}" in page
    added = page_of(client.get(reverse("batch_changes", args=[second.pk]), {"change": "added"}))
    assert site.url("/w1") in added and site.url("/a3") not in added


@pytest.mark.django_db(transaction=True)
def test_the_batch_page_and_list_link_to_the_changes(two_runs, client):
    _, second, _, _ = two_runs
    client.force_login(second.owner)
    changes = reverse("batch_changes", args=[second.pk])
    assert f'href="{changes}">Changes since batch {second.previous_id}: +2 / −3 / ~1</a>' in page_of(
        client.get(second.get_absolute_url()))
    assert f'<a href="{changes}" class="changes-link">changes</a>' in page_of(client.get(reverse("batch_list")))


@pytest.mark.django_db(transaction=True)
def test_the_changes_download_is_the_export_changes_csv(two_runs, client, site):
    _, second, _, _ = two_runs
    client.force_login(second.owner)
    response = client.get(reverse("batch_changes_export", args=[second.pk, "csv"]))
    rows = csv_rows(b"".join(response.streaming_content).decode())
    assert rows[0] == ["domain", "change", "loc", "lastmod", "previous_lastmod"]
    assert [row[1:3] for row in rows[1:]] == [
        ["added", site.url("/a4")], ["added", site.url("/w1")], ["removed", site.url("/a3")],
        ["removed", site.url("/g1")], ["removed", site.url("/o1")], ["modified", site.url("/a2")]]


@pytest.mark.django_db
def test_a_batch_that_is_not_a_rerun_has_no_changes_page(owner_client, owner):
    batch = make_batch(owner)
    assert owner_client.get(reverse("batch_changes", args=[batch.pk])).status_code == 404


@pytest.mark.django_db
def test_other_users_changes_and_rerun_are_404(client, owner, other_user):
    batch = make_batch(owner)
    client.force_login(other_user)
    assert client.get(reverse("batch_changes", args=[batch.pk])).status_code == 404
    assert client.post(reverse("batch_rerun", args=[batch.pk])).status_code == 404
    assert not Batch.objects.filter(previous=batch).exists()


@pytest.mark.django_db
def test_repeat_weekly_creates_a_schedule_the_list_shows_and_never_removes_it(owner_client, owner):
    batch = make_batch(owner)
    response = owner_client.post(reverse("batch_repeat", args=[batch.pk]), {"repeat": "weekly"}, follow=True)
    batch.refresh_from_db()
    schedule = Schedule.objects.get(name=f"batches: rerun series {batch.pk}")
    assert (batch.repeat, schedule.schedule_type, schedule.func, schedule.args) == (
        Repeat.WEEKLY, Schedule.WEEKLY, "batches.reruns.run_scheduled", f"({batch.pk},)")
    assert batch.next_run_at == schedule.next_run
    assert f"Runs again weekly; next run {batch.next_run_at:%Y-%m-%d %H:%M}." in page_of(response)
    assert f'<span title="repeats weekly">{batch.next_run_at:%Y-%m-%d %H:%M}</span>' in page_of(
        owner_client.get(reverse("batch_list")))

    owner_client.post(reverse("batch_repeat", args=[batch.pk]), {"repeat": ""})
    batch.refresh_from_db()
    assert (batch.repeat, batch.next_run_at) == ("", None)
    assert not Schedule.objects.filter(func="batches.reruns.run_scheduled").exists()


@pytest.mark.django_db
def test_running_a_batch_again_while_it_runs_is_refused(owner_client, owner):
    batch = make_batch(owner, status="running")
    response = owner_client.post(reverse("batch_rerun", args=[batch.pk]), follow=True)
    assert f"batch {batch.pk} is still running." in page_of(response)
    assert not Batch.objects.filter(previous=batch).exists()


@pytest.mark.django_db(transaction=True)
def test_the_domain_page_of_a_rerun_lists_its_reused_urls_too(two_runs, client, site):
    _, second, _, _ = two_runs
    client.force_login(second.owner)
    page = page_of(client.get(second.domains.get().get_absolute_url()))
    assert (f"Since batch {second.previous_id}: <a href=\"{reverse('batch_changes', args=[second.pk])}\">2 added, "
            "3 removed, 1 modified</a>; 2 sitemaps unchanged.") in page
    for path in ("/p1", "/p2", "/n1", "/n2", "/a1", "/a2", "/a4", "/w1"):
        assert f">{site.url(path)}<" in page
