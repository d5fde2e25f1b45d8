"""What people do to batches: create, cancel, retry the failed domains, run again (as a new batch), delete.

The one path used by the web form, the JSON API, the admin and the commands. Each function runs
inside the caller's transaction (`with transaction.atomic(): create_batch(...)`) and hands work
to the task queue on commit, so no worker ever sees a change that is not committed. The state
changes themselves (counters, timestamps, statuses) are the models' (models.py).
"""

import itertools
import queue
import threading

from django.db import connection, transaction
from django.utils import timezone

from .models import BATCH_ACTIVE, Batch, Domain, DomainStatus
from .queue import enqueue_batch, enqueue_purge
from .schedules import carry_schedule

INSERT_CHUNK = 50_000
_DOMAIN_DEFAULTS = {
    "origin": "", "status": DomainStatus.QUEUED.value, "attempts": 0, "error": "", "notes": "",
    "sitemaps_count": 0, "sitemaps_failed": 0, "urls_count": 0, "urls_skipped": 0,
}


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


def default_name(entries):
    names = ", ".join(entry.host for entry in list(entries)[:3])
    return names[:180] or "Batch"


def cancel_batch(batch_id):
    """Stop a batch: queued domains are cancelled now, running ones at their next chunk (the
    batch reads Cancelling until then). Returns whether it was running."""
    return Batch.cancel(batch_id)


def retry_failed(batch_id):
    """Queue the failed (and cancelled) domains of a finished batch again; returns how many.
    The batch keeps its first start: its duration runs to the last finish."""
    batch = Batch.objects.get(pk=batch_id)
    failed = Domain.objects.filter(batch_id=batch_id, status__in=(DomainStatus.FAILED, DomainStatus.CANCELLED))
    return _enqueue_on_commit(batch_id, batch.requeue(failed, attempts=0))


class CannotRerun(Exception):
    """Why a batch cannot run again now; the message is shown to people."""


def rerun_batch(batch_id, enqueue=True):
    """Run a finished batch again as a new batch linked to it (its `previous`), with the same
    domains in the same order; the earlier batch and its URLs stay as they were. Returns the
    new batch; raises CannotRerun. The domains are copied in the database, in one statement."""
    batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise CannotRerun(f"no batch with id {batch_id}")
    if batch.status in BATCH_ACTIVE:
        raise CannotRerun(f"batch {batch_id} is still running")
    rerun = create_batch(batch.owner, batch.name, [], enqueue=enqueue)
    total = _copy_batch_domains(batch.pk, rerun.pk)
    Batch.objects.filter(pk=rerun.pk).update(previous=batch, domains_total=total)
    rerun.previous, rerun.domains_total = batch, total
    if batch.repeat:
        carry_schedule(batch, rerun)
    return rerun


def _copy_batch_domains(from_batch_id, to_batch_id):
    """Queue the same domains, in the same order, with one INSERT ... SELECT: a million-domain
    batch re-runs without a round trip per domain (the first tasks go out on commit). Columns
    not named here take their database defaults."""
    table = Domain._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (batch_id, position, line_number, entry, host, scheme, {', '.join(_DOMAIN_DEFAULTS)}) "
            f"SELECT %s, position, line_number, entry, host, scheme, {', '.join(['%s'] * len(_DOMAIN_DEFAULTS))} "
            f"FROM {table} WHERE batch_id = %s ORDER BY position",
            [to_batch_id, *_DOMAIN_DEFAULTS.values(), from_batch_id],
        )
        return cursor.rowcount


def _enqueue_on_commit(batch_id, requeued):
    if requeued:
        # The worker clears each domain's earlier rows when it claims the domain.
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
