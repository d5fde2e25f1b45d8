"""Creating batches: the one path used by the web form, the JSON API and `import_domains`.

The caller owns the transaction (`with transaction.atomic(): create_batch(...)`); the tasks are
enqueued on commit, so no worker ever sees a batch that is not committed.
"""

from django.db import connection, transaction

from .models import Batch, Domain, DomainStatus
from .tasks import enqueue_domains

INSERT_CHUNK = 5000


def create_batch(owner, name, entries, enqueue=True):
    """Create a batch and its domain rows from parsed entries; enqueue them once committed."""
    if not connection.in_atomic_block:
        raise RuntimeError("create_batch must run inside the caller's transaction.atomic()")
    batch = Batch.objects.create(owner=owner, name=name or default_name(entries), domains_total=0)
    total = 0
    chunk = []
    for position, entry in enumerate(entries, start=1):
        chunk.append(Domain(
            batch=batch, position=position, line_number=entry.line_number, entry=entry.text[:2048],
            host=entry.host, scheme=entry.scheme,
        ))
        if len(chunk) >= INSERT_CHUNK:
            Domain.objects.bulk_create(chunk)
            total += len(chunk)
            chunk = []
    if chunk:
        Domain.objects.bulk_create(chunk)
        total += len(chunk)
    Batch.objects.filter(pk=batch.pk).update(domains_total=total)
    batch.domains_total = total
    if enqueue:
        transaction.on_commit(lambda: enqueue_batch(batch.pk))
    return batch


def enqueue_batch(batch_id, page_size=5000):
    """Enqueue every queued domain of a batch, a page of ids at a time.

    Pages, not a server-side cursor: the broker writes on the same connection while we read.
    """
    last_id = 0
    while True:
        ids = list(
            Domain.objects.filter(batch_id=batch_id, status=DomainStatus.QUEUED, pk__gt=last_id)
            .order_by("pk").values_list("pk", flat=True)[:page_size]
        )
        if not ids:
            return
        enqueue_domains(ids, batch_id)
        last_id = ids[-1]


def default_name(entries):
    entries = list(entries[:3]) if hasattr(entries, "__getitem__") else []
    if not entries:
        return "Batch"
    names = ", ".join(entry.host for entry in entries)
    return names[:180]


def process_batch_here(batch_id, threads=4, on_progress=None):
    """Process every queued domain of a batch in this process (`import_domains --sync`)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from .processing import process_domain

    def run(domain_id):
        try:
            return process_domain(domain_id)
        finally:
            connections.close_all()  # this thread's own connection

    ids = list(Domain.objects.filter(batch_id=batch_id, status=DomainStatus.QUEUED).order_by("position").values_list("pk", flat=True))
    finished = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(run, ids):
            finished += 1
            if on_progress:
                on_progress(finished)
