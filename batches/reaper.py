"""Taking work back from workers that died.

A domain whose worker stopped sending heartbeats (SIGKILL, lost machine, frozen process) is
queued again, or failed once it has been tried SITEMAPS_MAX_ATTEMPTS times; a batch that has
made no progress for SITEMAPS_STALE_AFTER seconds while domains wait (their queue messages were
lost with a Redis restart, or sat in a killed cluster's memory) is fed to the queue again. Every
change is a conditional update, so any number of processes may reap at once; a domain queued
twice is claimed once.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import BATCH_ACTIVE, DOMAIN_COUNTERS, Batch, Domain, DomainStatus
from .retention import prune_task_results

log = logging.getLogger(__name__)
REAP_LOCK_KEY = "batches:reaper:last-run"
BATCHES_PER_PASS = 200
DOMAINS_PER_PASS = 1000


def reap():
    """One pass; returns what it did."""
    requeued, failed = reap_stale_domains()
    return {
        "requeued": requeued,
        "failed": failed,
        "refed": refeed_stalled_batches(),
        "results_pruned": prune_task_results(),
    }


def reap_if_due():
    """Reap at most once per SITEMAPS_REAP_INTERVAL across all processes (shared cache)."""
    if cache.add(REAP_LOCK_KEY, timezone.now().isoformat(), timeout=settings.SITEMAPS_REAP_INTERVAL):
        return reap()
    return None


def reap_stale_domains():
    from .tasks import enqueue_domains

    requeued = failed = 0
    stale = Domain.objects.stale().values_list("pk", "batch_id", "attempts", "heartbeat_at")
    for pk, batch_id, attempts, heartbeat_at in stale[:DOMAINS_PER_PASS]:
        # Only the run we looked at: if its worker woke up and beat meanwhile, leave it.
        same_run = Domain.objects.filter(pk=pk, status=DomainStatus.RUNNING, attempts=attempts,
                                         heartbeat_at=heartbeat_at)
        if not Batch.objects.filter(pk=batch_id, status__in=BATCH_ACTIVE).exists():
            _finish(same_run, batch_id, DomainStatus.CANCELLED, "")
        elif attempts >= settings.SITEMAPS_MAX_ATTEMPTS:
            failed += _finish(same_run, batch_id, DomainStatus.FAILED,
                              f"the worker stopped responding during each of {attempts} attempts")
        elif same_run.move_to(DomainStatus.QUEUED, heartbeat_at=None):
            log.warning("domain %s: worker stopped responding, queued again", pk)
            enqueue_domains([pk], batch_id)
            requeued += 1
    return requeued, failed


def _finish(same_run, batch_id, status, error):
    with transaction.atomic():
        moved = same_run.move_to(status, error=error, finished_at=timezone.now())
        if moved:
            counter = DOMAIN_COUNTERS[status]
            Batch.all_objects.filter(pk=batch_id).update(progressed_at=timezone.now(), **{counter: F(counter) + 1})
    if moved:
        Batch.finish_if_complete(batch_id)
    return moved


def refeed_stalled_batches():
    """Feed again the active batches where nothing has finished for SITEMAPS_STALE_AFTER
    seconds and nothing runs; also finish batches whose last domain ended without it."""
    from .services import enqueue_batch

    before = timezone.now() - timedelta(seconds=settings.SITEMAPS_STALE_AFTER)
    quiet = Batch.objects.filter(status__in=BATCH_ACTIVE).filter(
        Q(progressed_at__lt=before) | Q(progressed_at__isnull=True, created_at__lt=before))
    refed = 0
    for batch_id in quiet.values_list("pk", flat=True)[:BATCHES_PER_PASS]:
        domains = Domain.objects.filter(batch_id=batch_id)
        if domains.filter(status=DomainStatus.RUNNING).exists():
            continue
        if not domains.filter(status=DomainStatus.QUEUED).exists():
            Batch.finish_if_complete(batch_id)
            continue
        # Stamp first, so the next pass waits another STALE_AFTER before feeding it again.
        if Batch.objects.filter(pk=batch_id, status__in=BATCH_ACTIVE).filter(
                Q(progressed_at__lt=before) | Q(progressed_at__isnull=True)).update(progressed_at=timezone.now()):
            log.warning("batch %s made no progress for %s s: feeding its queued domains again",
                        batch_id, settings.SITEMAPS_STALE_AFTER)
            refed += enqueue_batch(batch_id)
    return refed


SCHEDULE_NAME = "batches: reap stale domains"


def ensure_schedule(**signal_kwargs):
    """Make sure the reaper's django-q2 schedule exists (migration 0003 creates it; this puts it
    back when someone deleted it or the table was flushed). Runs as each worker spawns."""
    from django_q.models import Schedule

    if not Schedule.objects.filter(name=SCHEDULE_NAME).exists():
        Schedule.objects.create(
            name=SCHEDULE_NAME, func="batches.tasks.reap", schedule_type=Schedule.MINUTES, minutes=1, repeats=-1,
        )
