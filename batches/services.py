"""Creating batches and feeding their domains to the task queue.

`create_batch` is the one path used by the web form, the JSON API and `import_domains`. The
caller owns the transaction (`with transaction.atomic(): create_batch(...)`); the first tasks
are enqueued on commit, so no worker ever sees a batch that is not committed.

The task queue holds at most SITEMAPS_QUEUE_WINDOW domains of a batch at a time; the rest wait
in the domain table (which is the record of what remains) and are handed over as workers finish
(`feed_batch`). A million-domain batch therefore costs a million rows, not a million queue
messages, and a small batch created later is not stuck behind it.
"""

import itertools
import queue
import threading

from django.conf import settings
from django.db import connection, transaction

from .models import BATCH_ACTIVE, Batch, Domain, DomainStatus
from .tasks import enqueue_domains

INSERT_CHUNK = 50_000
_DOMAIN_DEFAULTS = {
    "origin": "", "status": DomainStatus.QUEUED.value, "attempts": 0, "error": "", "notes": "",
    "sitemaps_count": 0, "sitemaps_failed": 0, "urls_count": 0, "urls_skipped": 0,
}
_feeding = threading.local()


def create_batch(owner, name, entries, enqueue=True, on_progress=None):
    """Create a batch and its domain rows from parsed entries; enqueue them once committed.

    `entries` may be any iterable (a generator over a file of millions of lines): it is read
    once, in chunks. A host seen twice is stored once. `on_progress(n)` is called with the
    number of entries read so far.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("create_batch must run inside the caller's transaction.atomic()")
    batch = Batch.objects.create(owner=owner, name=name or "Batch", domains_total=0)
    first = []
    total = read = 0
    for chunk in _read_ahead(enumerate(entries, start=1), INSERT_CHUNK):
        first.extend(entry for _, entry in chunk[: 3 - len(first)])
        total += insert_domains(batch.pk, chunk)
        read += len(chunk)
        if on_progress:
            on_progress(read)
    batch.domains_total = total
    batch.name = name or default_name(first)
    Batch.objects.filter(pk=batch.pk).update(domains_total=total, name=batch.name)
    if enqueue:
        transaction.on_commit(lambda: enqueue_batch(batch.pk))
    return batch


def _read_ahead(iterable, size):
    """Yield lists of `size` items, read by a thread while the caller writes the previous list.

    Parsing a million lines is Python work and inserting them is the database's: overlapping
    the two nearly halves an import. At most two chunks wait, so memory stays bounded.
    """
    chunks = queue.Queue(maxsize=2)
    stop = threading.Event()

    def read():
        try:
            iterator = iter(iterable)
            while not stop.is_set() and (chunk := list(itertools.islice(iterator, size))):
                chunks.put(chunk)
            chunks.put(None)
        except BaseException as exc:  # handed to the caller's thread, raised there
            chunks.put(exc)

    reader = threading.Thread(target=read, name="read-ahead", daemon=True)
    reader.start()
    try:
        while (chunk := chunks.get()) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue
            try:
                chunks.get(timeout=0.1)
            except queue.Empty:
                pass
        reader.join()


def insert_domains(batch_id, numbered_entries):
    """Insert (position, Entry) pairs as queued domains; returns how many were new."""
    rows = [(position, e.line_number, e.text[:2048], e.host, e.scheme) for position, e in numbered_entries]
    if connection.vendor == "postgresql":
        return _copy_domains(batch_id, rows)
    columns = ["batch_id", "position", "line_number", "entry", "host", "scheme", *_DOMAIN_DEFAULTS]
    defaults = tuple(_DOMAIN_DEFAULTS.values())
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Domain._meta.db_table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT (batch_id, host) DO NOTHING",
            [(batch_id, *row, *defaults) for row in rows],
        )
        return cursor.rowcount


def _copy_domains(batch_id, rows):
    # COPY is the fast way in; it cannot skip duplicates, so it fills a temporary table and an
    # INSERT ... ON CONFLICT moves the rows over, in position order.
    table = Domain._meta.db_table
    defaults = ", ".join(f"{column}" for column in _DOMAIN_DEFAULTS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_domain "
            "(position integer, line_number integer, entry text, host text, scheme text) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY import_domain FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} (batch_id, position, line_number, entry, host, scheme, {defaults}) "
            f"SELECT %s, position, line_number, entry, host, scheme, "
            f"{', '.join(['%s'] * len(_DOMAIN_DEFAULTS))} FROM import_domain ORDER BY position "
            "ON CONFLICT (batch_id, host) DO NOTHING",
            [batch_id, *_DOMAIN_DEFAULTS.values()],
        )
        inserted = cursor.rowcount
        cursor.execute("TRUNCATE import_domain")
    return inserted


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
    cursor = Batch.objects.filter(pk=batch_id, status__in=BATCH_ACTIVE).values_list(
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


def default_name(entries):
    names = ", ".join(entry.host for entry in list(entries)[:3])
    return names[:180] or "Batch"


def process_batch_here(batch_id, threads=4, on_progress=None, page_size=10_000):
    """Process every queued domain of a batch in this process (`import_domains --sync`)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from .processing import process_domain

    def run(domain_id):
        try:
            return process_domain(domain_id, feed=False)
        finally:
            connections.close_all()  # this thread's own connection

    finished = last = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        while True:
            ids = list(
                Domain.objects.filter(batch_id=batch_id, status=DomainStatus.QUEUED, position__gt=last)
                .order_by("position").values_list("pk", "position")[:page_size]
            )
            if not ids:
                return
            last = ids[-1][1]
            for _ in pool.map(run, [pk for pk, _ in ids]):
                finished += 1
                if on_progress:
                    on_progress(finished)
