from django.core.management.base import BaseCommand, CommandError

from batches.export import FORMATS, iter_url_rows
from batches.models import Batch


class Command(BaseCommand):
    help = "Write every stored URL of a batch as CSV or JSON Lines, streamed in constant memory."

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--format", choices=sorted(FORMATS), default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, batch_id, format, output, **options):
        if not Batch.objects.filter(pk=batch_id).exists():
            raise CommandError(f"no batch with id {batch_id}")
        lines = FORMATS[format](iter_url_rows(batch_id))
        if output and output != "-":
            with open(output, "w", encoding="utf-8", newline="") as stream:
                stream.writelines(lines)
        else:
            for text in lines:
                self.stdout.write(text, ending="")
            self.stdout.flush()
