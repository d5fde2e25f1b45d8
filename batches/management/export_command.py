"""What export_urls, export_domains and export_findings share: arguments, checks, writing."""

from django.core.management.base import BaseCommand, CommandError

from batches.export import FORMATS, export_lines
from batches.models import Batch


class ExportCommand(BaseCommand):
    what = ""  # a key of batches.export.EXPORTS

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--format", choices=sorted(FORMATS), default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, batch_id, format, output, **options):
        if not Batch.objects.filter(pk=batch_id).exists():
            raise CommandError(f"no batch with id {batch_id}")
        lines = export_lines(self.what, format, batch_id)
        if output and output != "-":
            with open(output, "w", encoding="utf-8", newline="") as stream:
                stream.writelines(lines)
        else:
            for text in lines:
                self.stdout.write(text, ending="")
            self.stdout.flush()
