"""The schedule's task: run a series of batches again (schedules.py keeps the series).

A re-run is a new batch whose `previous` is the batch it repeats (services.rerun_batch); its
worker sends the previous run's validators and reuses what did not change (reuse.py), and each
domain records what changed (changes.py).
"""

from django.db import transaction
from django_q.models import Schedule

from .models import Batch
from .schedules import latest_in_series, schedule_name
from .services import rerun_batch


def run_scheduled(root_id):
    """The django-q2 schedule's task: run the series again, unless its last run still runs."""
    with transaction.atomic():
        root = Batch.objects.filter(pk=root_id).first()
        if root is None:
            Schedule.objects.filter(name=schedule_name(root_id)).delete()
            return "series gone: schedule removed"
        latest = latest_in_series(root)
        if not latest.is_finished:
            schedule = Schedule.objects.filter(name=schedule_name(root_id)).first()
            Batch.objects.filter(pk=latest.pk).update(next_run_at=schedule.next_run if schedule else None)
            return f"batch {latest.pk} still running: skipped"
        rerun = rerun_batch(latest.pk)
    return f"batch {rerun.pk}"
