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


def plain(stream):
    """The stream under a command's OutputWrapper: progress is not an error, so not in the error
    style (bold red on a terminal), and a bar's carriage returns need no added newlines."""
    return getattr(stream, "_out", stream)


class Progress:
    """Domains finished of a batch: a bar with the failed count on a terminal; elsewhere (cron,
    CI logs) one plain line every LINE_SECONDS and one at the end."""

    LINE_SECONDS = 5.0

    def __init__(self, batch, stream):
        self.batch_id, self.total = batch.pk, batch.domains_total
        self.out = plain(stream)
        self.finished = self.failed = 0
        self.closed = False
        self.printed_at = self._failed_read_at = None
        self._failed = 0
        self.bar = None
        if _isatty(self.out):
            self.bar = tqdm(total=self.total, unit="domain", file=self.out, leave=True, dynamic_ncols=True)

    def __call__(self, finished, failed=None):
        if self.closed:
            return
        self.finished = finished
        self.failed = failed if failed is not None else self._failed_now()
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.failed} failed", refresh=False)
            self.bar.update(finished - self.bar.n)
        elif self._line_due():
            self.out.write(f"batch {self.batch_id}: {finished}/{self.total} domains finished, {self.failed} failed\n")
            self.out.flush()
        if finished >= self.total:
            self.close()

    def close(self):
        if self.bar is not None and not self.closed:
            self.bar.close()
        self.closed = True

    def _line_due(self):
        now = time.monotonic()
        if self.finished < self.total and self.printed_at is not None and now - self.printed_at < self.LINE_SECONDS:
            return False
        self.printed_at = now
        return True

    def _failed_now(self):
        # Read at most once a second: a sync import reports every domain as it ends.
        now = time.monotonic()
        if self._failed_read_at is None or now - self._failed_read_at >= 1 or self.finished >= self.total:
            self._failed_read_at = now
            self._failed = Batch.all_objects.filter(pk=self.batch_id).values_list("domains_failed", flat=True).first() or 0
        return self._failed


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def bar_for(batch, stream):
    return Progress(batch, stream)


def wait_for(batch_id, stream, timeout=None):
    """Block until the batch has a final status, showing progress on `stream`.

    A batch with no domain has nothing to wait for: it returns at once whatever its status.
    """
    batch = Batch.objects.get(pk=batch_id)
    update = Progress(batch, stream)
    started = time.monotonic()
    while True:
        batch = Batch.all_objects.get(pk=batch_id)
        update(batch.domains_finished, batch.domains_failed)
        if batch.is_finished and batch.finished_at:  # a cancelled batch ends when its last domain stops
            return batch
        if not batch.domains_total:
            update.close()
            return batch
        if timeout is not None and time.monotonic() - started > timeout:
            update.close()
            return batch
        time.sleep(POLL_SECONDS)
