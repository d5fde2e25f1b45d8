"""The admin's share of re-runs: the "Run again" action and the repeat field."""

import pytest
from django.urls import reverse
from django_q.models import Schedule

from batches.models import Batch, BatchStatus, Repeat
from tests.factories import make_batch

pytestmark = pytest.mark.django_db


def test_the_run_again_action_makes_new_batches_and_explains_refusals(client, staff, owner,
                                                                       django_capture_on_commit_callbacks):
    client.force_login(staff)
    done, running = make_batch(owner), make_batch(owner, name="busy", status=BatchStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("admin:batches_batch_changelist"),
                               {"action": "rerun_batches", "_selected_action": [done.pk, running.pk]}, follow=True)
    rerun = Batch.objects.get(previous=done)
    page = response.content.decode()
    assert f"New batches: {rerun.pk}." in page and f"Batch {running.pk} is still running" in page  # the admin capitalises
    assert not Batch.objects.filter(previous=running).exists()


def test_setting_repeat_in_the_admin_creates_the_schedule(client, staff, owner):
    client.force_login(staff)
    batch = make_batch(owner)
    url = reverse("admin:batches_batch_change", args=[batch.pk])
    response = client.post(url, {"name": batch.name, "owner": owner.pk, "repeat": "daily"})
    assert response.status_code == 302
    batch.refresh_from_db()
    schedule = Schedule.objects.get(func="batches.reruns.run_scheduled")
    assert (batch.repeat, schedule.schedule_type, batch.next_run_at) == (Repeat.DAILY, Schedule.DAILY,
                                                                         schedule.next_run)
