"""Removing what is no longer wanted without long locks: deleted batches, old task results.

A batch of millions of URLs is deleted by a background task in chunks of short statements;
the batch disappears from every page at once (Batch.objects hides it) and its rows go a chunk
at a time, so no table is locked for long and the web process stays responsive.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Failure

from .history import hand_over_reused
from .models import Batch, Domain, DomainStatus, SitemapFile, Url

log = logging.getLogger(__name__)
URL_CHUNK = 10_000
DOMAIN_CHUNK = 500
WAIT_FOR_RUNNING = 60.0


def purge_batch(batch_id):
    """Delete a batch marked deleted and everything it found; returns the URL rows deleted."""
    batch = Batch.all_objects.filter(pk=batch_id, deleted_at__isnull=False).first()
    if batch is None:
        return 0
    _wait_for_running_domains(batch_id)
    deleted = 0
    domains = Domain.objects.filter(batch_id=batch_id).order_by("pk").values_list("pk", flat=True)
    while ids := list(domains[:DOMAIN_CHUNK]):
        hand_over_reused(ids)  # re-runs of this batch keep reading these rows
        deleted += delete_in_chunks(Url.objects.filter(domain_id__in=ids))
        # Through the ORM: it also clears anything a late writer added meanwhile.
        SitemapFile.objects.filter(domain_id__in=ids).delete()
        Domain.objects.filter(pk__in=ids).delete()
    Batch.all_objects.filter(pk=batch_id).delete()
    log.info("batch %s purged: %s URLs", batch_id, deleted)
    return deleted


def _wait_for_running_domains(batch_id):
    # The batch was cancelled with its deletion; running domains stop at their next chunk.
    deadline = time.monotonic() + WAIT_FOR_RUNNING
    running = Domain.objects.filter(batch_id=batch_id, status=DomainStatus.RUNNING)
    while running.exists() and time.monotonic() < deadline:
        time.sleep(1.0)


def delete_in_chunks(queryset, size=URL_CHUNK):
    """Delete a queryset's rows by primary key, `size` at a time, each chunk its own transaction."""
    model = queryset.model
    total = 0
    while ids := list(queryset.order_by("pk").values_list("pk", flat=True)[:size]):
        with transaction.atomic():
            total += model.objects.filter(pk__in=ids).delete()[0]
    return total


def prune_task_results():
    """Delete django-q2 failures older than Q_FAILURE_DAYS (successes are capped by save_limit)."""
    before = timezone.now() - timedelta(days=settings.Q_FAILURE_DAYS)
    return delete_in_chunks(Failure.objects.filter(stopped__lt=before), size=1000)
