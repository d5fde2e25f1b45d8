"""Taking work back from workers that died.

A domain whose worker stopped sending heartbeats (SIGKILL, lost machine, frozen process) is
queued again, or failed once it has been tried SITEMAPS_MAX_ATTEMPTS times. A worker process
starting on a machine takes back at once the domains claimed by processes of that machine that
no longer exist (a restarted cluster resumes in seconds, not after SITEMAPS_STALE_AFTER). A
batch that has made no progress while domains wait (their queue messages were lost with a Redis
restart, or sat in a killed cluster's memory) is fed to the queue again. Every change is a
conditional update, so any number of processes may reap at once; a domain queued twice is
claimed once.
"""

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule

from .models import BATCH_RUNNABLE, Batch, Domain, DomainStatus
from .queue import enqueue_batch, enqueue_domains
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
    stale = Domain.objects.stale().values_list("pk", "batch_id", "attempts", "heartbeat_at")
    return _take_back(stale[:DOMAINS_PER_PASS], "worker stopped responding")


def reclaim_from_dead_processes():
    """Take back the running domains claimed by processes of this machine that are gone."""
    prefix = f"{socket.gethostname()}:"
    claims = Domain.objects.filter(status=DomainStatus.RUNNING, claimed_by__startswith=prefix).values_list(
        "pk", "batch_id", "attempts", "heartbeat_at", "claimed_by")
    dead = [row[:4] for row in claims[:DOMAINS_PER_PASS] if process_is_gone(row[4])]
    return _take_back(dead, "its worker process is gone")


def _take_back(runs, reason):
    """Queue again (or fail, or cancel) each (pk, batch_id, attempts, heartbeat_at) run; returns
    (requeued, failed)."""
    requeued = failed = 0
    for pk, batch_id, attempts, heartbeat_at in runs:
        # Only the run we looked at: if its worker woke up and beat meanwhile, leave it.
        same_run = Domain.objects.filter(pk=pk, status=DomainStatus.RUNNING, attempts=attempts,
                                         heartbeat_at=heartbeat_at)
        if not Batch.objects.filter(pk=batch_id, status__in=BATCH_RUNNABLE).exists():
            same_run.finish(DomainStatus.CANCELLED)
        elif attempts >= settings.SITEMAPS_MAX_ATTEMPTS:
            failed += same_run.finish(
                DomainStatus.FAILED, error=f"the worker stopped responding during each of {attempts} attempts")
        elif same_run.requeue():
            log.warning("domain %s: %s, queued again", pk, reason)
            enqueue_domains([pk], batch_id)
            requeued += 1
    return requeued, failed


def refeed_stalled_batches():
    """Feed again the runnable batches whose queued domains seem forgotten by the queue: nothing
    of theirs runs and nothing finished for SITEMAPS_STALE_AFTER seconds while no worker anywhere
    is busy (else they may just wait their turn), or for SITEMAPS_REFEED_AFTER seconds in any
    case. Also finish batches whose last domain ended without it."""
    now = timezone.now()
    idle = not Domain.objects.filter(status=DomainStatus.RUNNING).exists()
    after = settings.SITEMAPS_STALE_AFTER if idle else settings.SITEMAPS_REFEED_AFTER
    before = now - timedelta(seconds=after)
    quiet_since = Q(progressed_at__lt=before) | Q(progressed_at__isnull=True, created_at__lt=before)
    quiet = Batch.objects.filter(status__in=BATCH_RUNNABLE).filter(quiet_since)
    refed = 0
    for batch_id in quiet.values_list("pk", flat=True)[:BATCHES_PER_PASS]:
        domains = Domain.objects.filter(batch_id=batch_id)
        if domains.filter(status=DomainStatus.RUNNING).exists():
            continue
        if not domains.filter(status=DomainStatus.QUEUED).exists():
            Batch.finish_if_complete(batch_id)
            continue
        # Stamp first, so the next pass waits again before feeding it again.
        if Batch.objects.filter(pk=batch_id, status__in=BATCH_RUNNABLE).filter(
                Q(progressed_at__lt=before) | Q(progressed_at__isnull=True)).update(progressed_at=now):
            log.warning("batch %s made no progress for %s s: feeding its queued domains again", batch_id, after)
            refed += enqueue_batch(batch_id)
    return refed


# --- who claimed a domain ------------------------------------------------------------
def this_process():
    """This process's identity for Domain.claimed_by: host, pid and the process's start time
    (so a pid reused by a later process is not mistaken for the claimant)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def process_is_gone(identity):
    """True when the claimant named by `identity` (of this machine) no longer runs."""
    try:
        _, pid, started = identity.rsplit(":", 2)
        pid = int(pid)
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    state, start = _stat(pid)
    # A zombie is dead (in a container nobody may reap it); another start time is another process.
    return state == "Z" or start != started


def _start_time(pid):
    return _stat(pid)[1]


def _stat(pid):
    """(state, start time in clock ticks since boot) from /proc/PID/stat, ("", "0") without /proc.
    The command name (field 2) may contain spaces, so fields are counted from its ")"."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return "", "0"


SCHEDULE_NAME = "batches: reap stale domains"


def worker_started(**signal_kwargs):
    """As each qcluster worker process starts: resume what dead processes of this machine left
    running, and make sure the reaper's schedule exists."""
    reclaim_from_dead_processes()
    ensure_schedule()


def ensure_schedule(**signal_kwargs):
    """Make sure the reaper's django-q2 schedule exists (migration 0003 creates it; this puts it
    back when someone deleted it or the table was flushed)."""
    if not Schedule.objects.filter(name=SCHEDULE_NAME).exists():
        Schedule.objects.create(
            name=SCHEDULE_NAME, func="batches.tasks.reap", schedule_type=Schedule.MINUTES, minutes=1, repeats=-1,
        )
