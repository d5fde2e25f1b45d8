"""Batches that repeat on a django-q2 schedule: each firing is a re-run of the series' newest batch."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from batches.entries import parse_text
from batches.models import Batch, BatchStatus, Repeat
from batches.reruns import run_scheduled
from batches.schedules import schedule_name, set_repeat
from batches.services import create_batch
from batches.worker import process_batch_here
from tests.cluster import start_cluster, stop_cluster, wait_until
from tests.factories import make_batch
from tests.sites import urlset


@pytest.mark.django_db
def test_each_firing_reruns_the_newest_batch_and_the_schedule_moves_with_it(owner, django_capture_on_commit_callbacks):
    first = make_batch(owner)
    with transaction.atomic():
        next_run = set_repeat(first.pk, Repeat.DAILY)
    with django_capture_on_commit_callbacks(execute=False):
        assert run_scheduled(first.pk) == f"batch {first.pk + 1}"
    second = Batch.objects.get(previous=first)
    Batch.objects.filter(pk=second.pk).update(status=BatchStatus.COMPLETED)
    with django_capture_on_commit_callbacks(execute=False):
        run_scheduled(first.pk)
    third = Batch.objects.get(previous=second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert [(b.repeat, b.next_run_at) for b in (first, second, third)] == [
        ("", None), ("", None), (Repeat.DAILY, next_run)]
    assert Schedule.objects.filter(name=schedule_name(first.pk)).count() == 1


@pytest.mark.django_db
def test_a_firing_while_the_last_run_still_runs_is_skipped(owner):
    batch = make_batch(owner, status=BatchStatus.RUNNING)
    with transaction.atomic():
        set_repeat(batch.pk, Repeat.WEEKLY)
    assert run_scheduled(batch.pk) == f"batch {batch.pk} still running: skipped"
    assert not Batch.objects.filter(previous=batch).exists()


@pytest.mark.django_db
def test_a_schedule_of_a_purged_series_removes_itself(owner):
    Schedule.objects.create(name=schedule_name(12345), func="batches.reruns.run_scheduled", args="(12345,)",
                            schedule_type=Schedule.DAILY)
    assert run_scheduled(12345) == "series gone: schedule removed"
    assert not Schedule.objects.filter(name=schedule_name(12345)).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.cluster
def test_a_real_cluster_fires_the_schedule_and_runs_the_batch_again(site, owner, settings):
    settings.SITEMAPS_PROBE_WELL_KNOWN = False
    site.add("/robots.txt", f"Sitemap: {site.url('/sitemap.xml')}\n", content_type="text/plain")
    site.add("/sitemap.xml", urlset([site.url("/one")]), headers={"ETag": '"one"'})
    with transaction.atomic():
        first = create_batch(owner, "watched", parse_text(site.origin).entries, enqueue=False)
    process_batch_here(first.pk)
    site.add("/sitemap.xml", urlset([site.url("/one"), site.url("/two")]), headers={"ETag": '"two"'})
    with transaction.atomic():
        set_repeat(first.pk, Repeat.DAILY, first_run=timezone.now() - timedelta(seconds=1))

    cluster = start_cluster({"SITEMAPS_PROBE_WELL_KNOWN": "0"})
    try:
        # django-q2's guard looks at schedules every 30 seconds.
        ran = wait_until(lambda: Batch.objects.filter(previous=first, status=BatchStatus.COMPLETED).exists(),
                         timeout=120)
    finally:
        output = stop_cluster(cluster)
    assert ran, output[-3000:]
    rerun = Batch.objects.get(previous=first)
    assert (rerun.urls_count, rerun.urls_added, rerun.urls_removed, rerun.repeat) == (2, 1, 0, Repeat.DAILY)
    assert rerun.next_run_at > timezone.now() + timedelta(hours=23)
    assert site.requests_for("/sitemap.xml")[-1]["If-None-Match"] == '"one"'
