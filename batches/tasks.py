"""django-q2 entry points: they take ids, never model instances, and delegate to their modules."""

from contextlib import nullcontext

from django.db import transaction
from django_q.conf import Conf
from django_q.tasks import async_task

from . import processing, reaper, retention

TASK_PATH = "batches.tasks.process_domain"
PURGE_PATH = "batches.tasks.purge_batch"
REAP_PATH = "batches.tasks.reap"


def process_domain(domain_id):
    return processing.process_domain(domain_id)


def purge_batch(batch_id):
    return retention.purge_batch(batch_id)


def reap():
    """Run by the django-q2 schedule created in migration 0003 (every minute)."""
    return reaper.reap()


def enqueue_domains(domain_ids, batch_id):
    # One transaction for the ORM broker's inserts: one commit (one disk flush) per window,
    # not one per domain. In sync mode the tasks run right here and need no transaction.
    with nullcontext() if Conf.SYNC else transaction.atomic():
        for domain_id in domain_ids:
            async_task(TASK_PATH, domain_id, task_name=f"domain-{domain_id}", group=f"batch-{batch_id}")


def enqueue_purge(batch_id):
    async_task(PURGE_PATH, batch_id, task_name=f"purge-batch-{batch_id}")
