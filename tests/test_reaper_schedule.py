"""The reaper stays scheduled: each qcluster worker puts its schedule back if it is gone."""

import pytest
from django_q.models import Schedule
from django_q.signals import post_spawn

from batches.reaper import SCHEDULE_NAME

pytestmark = pytest.mark.django_db


def test_a_spawning_worker_recreates_a_deleted_reaper_schedule():
    Schedule.objects.filter(name=SCHEDULE_NAME).delete()
    post_spawn.send(sender="django_q", proc_name="Process-1")
    post_spawn.send(sender="django_q", proc_name="Process-2")
    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "batches.tasks.reap", Schedule.MINUTES, 1, -1)


def test_the_migration_and_the_workers_use_one_schedule_name():
    import importlib

    migration = importlib.import_module("batches.migrations.0003_reaper_schedule")
    assert migration.NAME == SCHEDULE_NAME
