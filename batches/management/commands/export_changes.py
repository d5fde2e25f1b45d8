from django.core.management.base import BaseCommand, CommandError

from batches.changes_export import FORMATS, change_rows
from batches.models import Batch


class Command(BaseCommand):
    help = ("Write the URLs added, removed and modified (lastmod moved) between a batch and an earlier one "
            "(default: the batch it re-runs) as CSV or JSON Lines, streamed.")

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--since", type=int, metavar="OTHER_BATCH_ID",
                            help="compare with this batch (default: the batch's previous batch)")
        parser.add_argument("--format", choices=sorted(FORMATS), default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, batch_id, since, format, output, **options):
        batch = Batch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise CommandError(f"no batch with id {batch_id}")
        since = since if since is not None else batch.previous_id
        if since is None:
            raise CommandError(f"batch {batch_id} is not a re-run: give --since OTHER_BATCH_ID")
        if not Batch.objects.filter(pk=since).exists():
            raise CommandError(f"no batch with id {since}")
        lines = FORMATS[format](change_rows(batch_id, since))
        if output and output != "-":
            with open(output, "w", encoding="utf-8", newline="") as stream:
                stream.writelines(lines)
        else:
            for text in lines:
                self.stdout.write(text, ending="")
            self.stdout.flush()
