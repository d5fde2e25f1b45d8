"""Running a batch again as a new batch, by hand or on a schedule.

A re-run is a new batch whose `previous` is the batch it repeats, with the same domains in the
same order; the earlier batch and its URLs stay as they were. Its worker sends the previous
run's validators and reuses what did not change (reuse.py), and each domain records what
changed (changes.py).

Schedules are django-q2 Schedule rows, so whichever cluster is up runs them: one per series of
runs, always carried by the newest batch of the series, whose `repeat` and `next_run_at` the
batch list shows.
"""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django_q.models import Schedule

from .models import BATCH_ACTIVE, Batch, Domain, DomainStatus, Repeat
from .services import create_batch

SCHEDULE_FUNC = "batches.reruns.run_scheduled"
SCHEDULE_TYPES = {Repeat.DAILY: Schedule.DAILY, Repeat.WEEKLY: Schedule.WEEKLY}
PERIODS = {Repeat.DAILY: timedelta(days=1), Repeat.WEEKLY: timedelta(weeks=1)}


class CannotRerun(Exception):
    """Why a batch cannot run again now; the message is shown to people."""


def create_rerun(batch_id, enqueue=True):
    """Create the re-run of a finished batch inside the caller's transaction; returns it.

    services.create_batch makes the batch (and enqueues its domains on commit); the domains
    are copied from the earlier batch in the database."""
    batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise CannotRerun(f"no batch with id {batch_id}")
    if batch.status in BATCH_ACTIVE:
        raise CannotRerun(f"batch {batch_id} is still running")
    rerun = create_batch(batch.owner, batch.name, [], enqueue=enqueue)
    total = _copy_domains(batch.pk, rerun.pk)
    Batch.objects.filter(pk=rerun.pk).update(previous=batch, domains_total=total)
    rerun.previous, rerun.domains_total = batch, total
    if batch.repeat:
        _carry_schedule(batch, rerun)
    return rerun


def _copy_domains(from_batch_id, to_batch_id):
    """Queue the same domains, in the same order, with one INSERT ... SELECT: a million-domain
    batch re-runs without a round trip per domain (the first tasks go out on commit)."""
    table = Domain._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (batch_id, position, line_number, entry, host, scheme, origin, status, attempts, "
            "error, notes, sitemaps_count, sitemaps_failed, urls_count, urls_skipped, urls_added, urls_removed, "
            "urls_modified, sitemaps_unchanged) "
            "SELECT %s, position, line_number, entry, host, scheme, '', %s, 0, '', '', 0, 0, 0, 0, 0, 0, 0, 0 "
            f"FROM {table} WHERE batch_id = %s ORDER BY position",
            [to_batch_id, DomainStatus.QUEUED.value, from_batch_id],
        )
        return cursor.rowcount


def latest_in_series(batch):
    """The newest re-run descending from `batch` (the batch itself when it has none)."""
    while (later := Batch.objects.filter(previous=batch).order_by("-pk").first()) is not None:
        batch = later
    return batch


# --- schedules ----------------------------------------------------------------------
# The Schedule row names the series by its first batch and is never edited by the task it
# starts (the scheduler saves the row after handing the task over): each firing re-runs the
# newest batch of the series, and only the display fields move along the series.
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


def _carry_schedule(batch, rerun):
    """The newest batch of a series shows its schedule."""
    schedule = series_schedule(batch)
    next_run = schedule.next_run if schedule else None
    Batch.objects.filter(pk=rerun.pk).update(repeat=batch.repeat, next_run_at=next_run)
    Batch.objects.filter(pk=batch.pk).update(repeat=Repeat.NEVER, next_run_at=None)
    rerun.repeat, rerun.next_run_at = batch.repeat, next_run


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
        rerun = create_rerun(latest.pk)
    return f"batch {rerun.pk}"
