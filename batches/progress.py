"""Batch progress for the command line: one summary shape, a progress bar, waiting for the end."""

import time

from tqdm import tqdm

from .models import Batch

POLL_SECONDS = 1.0


def summary(batch):
    """The keys scripts read (`import_domains --json`, `batch_status --json`)."""
    return {
        "batch_id": batch.pk,
        "name": batch.name,
        "status": batch.status,
        "domains": batch.domains_total,
        "domains_done": batch.domains_done,
        "domains_failed": batch.domains_failed,
        "domains_cancelled": batch.domains_cancelled,
        "sitemaps": batch.sitemaps_count,
        "urls": batch.urls_count,
        "progress": batch.progress,
    }


def bar_for(batch, stream):
    bar = tqdm(total=batch.domains_total, unit="domain", file=stream, disable=None, leave=True)

    def update(finished):
        bar.update(finished - bar.n)
        if finished >= batch.domains_total:
            bar.close()

    return update


def wait_for(batch_id, stream, timeout=None):
    """Block until the batch has a final status, with a progress bar on `stream`."""
    batch = Batch.objects.get(pk=batch_id)
    update = bar_for(batch, stream)
    started = time.monotonic()
    while True:
        batch.refresh_from_db()
        update(batch.domains_finished)
        if batch.is_finished:
            return batch
        if timeout is not None and time.monotonic() - started > timeout:
            return batch
        time.sleep(POLL_SECONDS)
