"""django-q2 entry points: they take ids, never model instances, and delegate to processing."""

from django_q.tasks import async_task

from . import processing

TASK_PATH = "batches.tasks.process_domain"


def process_domain(domain_id):
    return processing.process_domain(domain_id)


def enqueue_domains(domain_ids, batch_id):
    for domain_id in domain_ids:
        async_task(TASK_PATH, domain_id, task_name=f"domain-{domain_id}", group=f"batch-{batch_id}")
