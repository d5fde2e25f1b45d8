"""Handing domains to the task queue: enqueue and feed. Models and django_q only.

The task queue holds at most SITEMAPS_QUEUE_WINDOW domains of a batch at a time; the rest wait
in the domain table (which is the record of what remains) and are handed over as workers finish
(`feed_batch`). A million-domain batch therefore costs a million rows, not a million queue
messages, and a small batch created later is not stuck behind it. A message carries a group of
up to SITEMAPS_DOMAINS_PER_TASK domain ids: the queue's cost is paid per group, not per domain.
"""

import threading
from contextlib import nullcontext

from django.conf import settings
from django.db import transaction
from django_q.conf import Conf
from django_q.tasks import async_task

from .models import BATCH_RUNNABLE, Batch, Domain, DomainStatus

TASK_PATH = "batches.tasks.crawl_domains"
PURGE_PATH = "batches.tasks.purge_batch"
REAP_PATH = "batches.tasks.reap"
_feeding = threading.local()


def enqueue_batch(batch_id):
    """Hand the batch's queued domains to the task queue from the start (new, retried or rerun)."""
    Batch.objects.filter(pk=batch_id).update(enqueued_position=0)
    return feed_batch(batch_id)


def feed_batch(batch_id):
    """Top the batch's share of the task queue up to SITEMAPS_QUEUE_WINDOW; returns how many
    domains were enqueued. Cheap when there is nothing to do; any process may call it."""
    if getattr(_feeding, "active", False):
        return 0  # django-q2 in sync mode runs tasks inside enqueue: the outer call keeps feeding
    _feeding.active = True
    try:
        fed = 0
        while ids := _claim_window(batch_id):
            enqueue_domains(ids, batch_id)
            fed += len(ids)
        return fed
    finally:
        _feeding.active = False


def _claim_window(batch_id):
    """Move the batch's enqueue cursor over the next queued domains; returns their ids."""
    window = settings.SITEMAPS_QUEUE_WINDOW
    cursor = Batch.objects.filter(pk=batch_id, status__in=BATCH_RUNNABLE).values_list(
        "enqueued_position", flat=True).first()
    if cursor is None:
        return []
    queued = Domain.objects.filter(batch_id=batch_id, status=DomainStatus.QUEUED)
    outstanding = queued.filter(position__lte=cursor).count()
    if outstanding > window // 2:
        return []
    rows = list(queued.filter(position__gt=cursor).order_by("position").values_list("pk", "position")[
        : window - outstanding])
    if not rows:
        return []
    # The conditional update is the claim: two feeders never hand over the same window.
    if not Batch.objects.filter(pk=batch_id, enqueued_position=cursor).update(enqueued_position=rows[-1][1]):
        return []
    return [pk for pk, _ in rows]


def enqueue_domains(domain_ids, batch_id):
    """One message per group of SITEMAPS_DOMAINS_PER_TASK domains."""
    size = max(1, settings.SITEMAPS_DOMAINS_PER_TASK)
    # One transaction for the ORM broker's inserts: one commit (one disk flush) per window,
    # not one per message. In sync mode the tasks run right here and need no transaction.
    with nullcontext() if Conf.SYNC else transaction.atomic():
        for start in range(0, len(domain_ids), size):
            group = list(domain_ids[start:start + size])
            # save=False: a message only hands its domains to the worker's crawler, which records
            # every outcome on the domain rows, so a success row says nothing, yet django-q2's
            # monitor paid four queries for it (its save_limit pruning reads up to 500 rows).
            # Failures are saved whatever `save` says: the admin's failed tasks still show them.
            async_task(TASK_PATH, group, task_name=f"domains-{group[0]}", group=f"batch-{batch_id}", save=False)


def enqueue_purge(batch_id):
    async_task(PURGE_PATH, batch_id, task_name=f"purge-batch-{batch_id}")
