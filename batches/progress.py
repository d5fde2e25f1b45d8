"""Batch progress for the command line: one summary shape, a progress bar, waiting for the end."""

import json
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


def report(stream, batch, as_json=False):
    """The human line, then (with `as_json`) the summary as the last line of `stream`."""
    data = summary(batch)
    stream.write(
        f"Batch {batch.pk}: {data['status']}, {data['domains']} domains "
        f"({data['domains_failed']} failed), {data['sitemaps']} sitemaps, {data['urls']} URLs"
    )
    if as_json:
        stream.write(json.dumps(data))


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
        batch = Batch.all_objects.get(pk=batch_id)
        update(batch.domains_finished)
        if batch.is_finished and batch.finished_at:  # a cancelled batch ends when its last domain stops
            return batch
        if timeout is not None and time.monotonic() - started > timeout:
            return batch
        time.sleep(POLL_SECONDS)
