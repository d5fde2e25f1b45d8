"""A batch's series of re-runs and its django-q2 schedule.

Schedules are django-q2 Schedule rows, so whichever cluster is up runs them: one per series of
runs, always carried by the newest batch of the series, whose `repeat` and `next_run_at` the
batch list shows. The Schedule row names the series by its first batch and is never edited by
the task it starts (the scheduler saves the row after handing the task over): each firing
re-runs the newest batch of the series (reruns.run_scheduled), and only the display fields
move along the series.
"""

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

from .models import Batch, Repeat

SCHEDULE_FUNC = "batches.reruns.run_scheduled"
SCHEDULE_TYPES = {Repeat.DAILY: Schedule.DAILY, Repeat.WEEKLY: Schedule.WEEKLY}
PERIODS = {Repeat.DAILY: timedelta(days=1), Repeat.WEEKLY: timedelta(weeks=1)}


def latest_in_series(batch):
    """The newest re-run descending from `batch` (the batch itself when it has none)."""
    while (later := Batch.objects.filter(previous=batch).order_by("-pk").first()) is not None:
        batch = later
    return batch


def series_root(batch):
    while batch.previous_id is not None and (earlier := Batch.objects.filter(pk=batch.previous_id).first()):
        batch = earlier
    return batch


def schedule_name(root_id):
    return f"batches: rerun series {root_id}"


def series_schedule(batch):
    return Schedule.objects.filter(name=schedule_name(series_root(batch).pk)).first()


def set_repeat(batch_id, repeat, first_run=None):
    """Repeat the batch's series daily or weekly from `first_run` (default: one period from
    now), or stop repeating (Repeat.NEVER). Runs inside the caller's transaction."""
    batch = Batch.objects.get(pk=batch_id)
    root = series_root(batch)
    Schedule.objects.filter(name=schedule_name(root.pk)).delete()
    latest = latest_in_series(root)
    Batch.objects.filter(pk__in={batch.pk, latest.pk}).update(repeat=Repeat.NEVER, next_run_at=None)
    if not repeat:
        return None
    next_run = first_run or timezone.now() + PERIODS[repeat]
    Schedule.objects.create(
        name=schedule_name(root.pk), func=SCHEDULE_FUNC, args=repr((root.pk,)),
        schedule_type=SCHEDULE_TYPES[repeat], repeats=-1, next_run=next_run,
    )
    Batch.objects.filter(pk=latest.pk).update(repeat=repeat, next_run_at=next_run)
    return next_run


def carry_schedule(batch, rerun):
    """The newest batch of a series shows its schedule."""
    schedule = series_schedule(batch)
    next_run = schedule.next_run if schedule else None
    Batch.objects.filter(pk=rerun.pk).update(repeat=batch.repeat, next_run_at=next_run)
    Batch.objects.filter(pk=batch.pk).update(repeat=Repeat.NEVER, next_run_at=None)
    rerun.repeat, rerun.next_run_at = batch.repeat, next_run
