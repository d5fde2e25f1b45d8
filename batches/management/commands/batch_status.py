from django.core.management.base import BaseCommand, CommandError

from batches import progress
from batches.models import Batch


class Command(BaseCommand):
    help = "Show a batch's status and counters; --wait blocks with a progress bar until it has finished."

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int, metavar="BATCH_ID")
        parser.add_argument("--json", action="store_true", help="end stdout with one JSON object")
        parser.add_argument("--wait", action="store_true", help="block until the batch has finished")

    def handle(self, batch_id, json, wait, **options):
        batch = Batch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise CommandError(f"no batch with id {batch_id}")
        if wait:
            batch = progress.wait_for(batch_id, self.stderr)
        progress.report(self.stdout, batch, json)
