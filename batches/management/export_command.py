"""What export_urls, export_domains and export_findings share: arguments, checks, writing."""

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from batches.export import FORMATS, export_lines
from batches.models import Batch

# What a shell reports for a writer stopped by SIGPIPE (128 + 13): `export_urls 1 | head -1`
# ends as `yes | head -1` does, quietly, and `set -o pipefail` scripts can still tell.
EXIT_PIPE_CLOSED = 141


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
            self._write_file(output, lines)
            return
        try:
            for text in lines:
                self.stdout.write(text, ending="")
            self.stdout.flush()
        except BrokenPipeError:
            lines.close()  # ends the database cursor while the connection is still open
            self._pipe_closed()

    def _write_file(self, output, lines):
        try:
            with open(output, "w", encoding="utf-8", newline="") as stream:
                stream.writelines(lines)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}") from None

    def _pipe_closed(self):
        # The reader has gone: point our stdout at /dev/null, or Python's own flush at exit
        # raises BrokenPipeError again and prints a traceback after all.
        out = getattr(self.stdout, "_out", None)
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_PIPE_CLOSED)
