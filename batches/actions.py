"""What people do to a batch after creating it: cancel, retry the failed domains, run again, delete.

Each function is called inside the caller's transaction (view, admin action, API) and enqueues
work with transaction.on_commit.
"""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import DOMAIN_COUNTERS, Batch, BatchStatus, Domain, DomainStatus
from .services import enqueue_batch
from .tasks import enqueue_purge


def cancel_batch(batch_id):
    """Stop a batch: queued domains are cancelled now, running ones at their next chunk."""
    if not Batch.objects.filter(pk=batch_id).move_to(BatchStatus.CANCELLED):
        return False
    cancelled = Domain.objects.filter(batch_id=batch_id, status=DomainStatus.QUEUED).move_to(
        DomainStatus.CANCELLED, finished_at=timezone.now())
    Batch.objects.filter(pk=batch_id).update(domains_cancelled=F("domains_cancelled") + cancelled)
    _finish_if_nothing_runs(batch_id)
    return True


def _finish_if_nothing_runs(batch_id):
    if not Domain.objects.filter(batch_id=batch_id, status=DomainStatus.RUNNING).exists():
        Batch.objects.filter(pk=batch_id, finished_at__isnull=True).update(finished_at=timezone.now())


def retry_failed(batch_id):
    """Queue the failed (and cancelled) domains of a finished batch again; returns how many."""
    return _requeue(batch_id, Domain.objects.filter(
        batch_id=batch_id, status__in=(DomainStatus.FAILED, DomainStatus.CANCELLED)))


def rerun_batch(batch_id):
    """Process every domain of a finished batch again from scratch; returns how many."""
    return _requeue(batch_id, Domain.objects.filter(batch_id=batch_id).exclude(status=DomainStatus.RUNNING))


def _requeue(batch_id, domains):
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    if not batch.is_finished:
        return 0
    counts = {status: domains.filter(status=status).count() for status in DOMAIN_COUNTERS}
    requeued = domains.move_to(DomainStatus.QUEUED, attempts=0, error="", notes="", finished_at=None)
    if not requeued:
        return 0
    Batch.objects.filter(pk=batch_id).move_to(
        BatchStatus.PENDING, finished_at=None, progressed_at=None,
        **{counter: F(counter) - counts[status] for status, counter in DOMAIN_COUNTERS.items()},
    )
    # The worker clears each domain's earlier rows and counters when it claims the domain.
    transaction.on_commit(lambda: enqueue_batch(batch_id))
    return requeued


def delete_batch(batch_id):
    """Delete a batch and everything it found: hidden at once, its rows purged in the background.

    The batch is cancelled first, so its running domains stop at their next chunk.
    """
    cancel_batch(batch_id)
    if not Batch.objects.filter(pk=batch_id).update(deleted_at=timezone.now()):
        return False
    transaction.on_commit(lambda: enqueue_purge(batch_id))
    return True
