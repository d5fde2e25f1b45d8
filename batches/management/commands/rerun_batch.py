import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from batches import progress
from batches.models import Batch
from batches.services import CannotRerun, rerun_batch
from batches.worker import process_batch_here


def rerun_summary(batch):
    """`import_domains --json`'s keys, plus what changed since the batch it repeats."""
    return progress.summary(batch) | {
        "previous_batch_id": batch.previous_id,
        "urls_added": batch.urls_added,
        "urls_removed": batch.urls_removed,
        "urls_modified": batch.urls_modified,
        "sitemaps_unchanged": batch.sitemaps_unchanged,
    }


class Command(BaseCommand):
    help = "Run a finished batch again as a new batch linked to it (the earlier batch stays as it is)."

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--sync", action="store_true", help="process the batch in this process, then return")
        mode.add_argument("--wait", action="store_true", help="enqueue, then show progress until the cluster finishes")
        parser.add_argument("--json", action="store_true", dest="as_json", help="end stdout with one JSON object")

    def handle(self, batch_id, sync, wait, as_json, **options):
        try:
            with transaction.atomic():
                batch = rerun_batch(batch_id, enqueue=not sync)
        except CannotRerun as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created batch {batch.pk} ({batch.name}) with {batch.domains_total} domains, "
                          f"re-running batch {batch_id}")
        if sync:
            process_batch_here(batch.pk, on_progress=progress.Progress(batch, self.stderr))
        elif wait:
            progress.wait_for(batch.pk, self.stderr)
        batch = Batch.objects.get(pk=batch.pk)
        progress.report(self.stdout, batch)
        self.stdout.write(f"Since batch {batch_id}: {batch.urls_added} URLs added, {batch.urls_removed} removed, "
                          f"{batch.urls_modified} modified; {batch.sitemaps_unchanged} sitemaps unchanged")
        if as_json:
            self.stdout.write(json.dumps(rerun_summary(batch)))
