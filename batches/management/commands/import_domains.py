import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from batches import progress
from batches.entries import ParsedEntries
from batches.models import Batch
from batches.owners import command_user
from batches.services import create_batch, process_batch_here


class Command(BaseCommand):
    help = "Create a batch from files of domains or URLs (one a line; '-' reads standard input)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", metavar="PATH", help="files to read; '-' or none reads stdin")
        parser.add_argument("--name", default="", help="batch name (default: the first hosts)")
        parser.add_argument("--user", help="owner's username (default: the first superuser)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--sync", action="store_true", help="process the batch in this process, then return")
        mode.add_argument("--wait", action="store_true", help="enqueue, then show progress until the cluster finishes")
        parser.add_argument("--json", action="store_true", help="end stdout with one JSON object")

    def handle(self, paths, name, user, sync, wait, json, **options):
        owner = command_user(user)
        parsed = self._read(paths or ["-"])
        self.stderr.write(
            f"{len(parsed.entries)} valid, {parsed.duplicates} duplicate, {len(parsed.invalid)} invalid"
        )
        if not parsed.entries:
            raise CommandError("no valid entry: nothing to import")
        with transaction.atomic():
            batch = create_batch(owner, name, parsed.entries, enqueue=not sync)
        self.stdout.write(f"Created batch {batch.pk} ({batch.name}) with {batch.domains_total} domains")
        if sync:
            process_batch_here(batch.pk, on_progress=progress.bar_for(batch, self.stderr))
        elif wait:
            progress.wait_for(batch.pk, self.stderr)
        self._report(Batch.objects.get(pk=batch.pk), json)

    def _read(self, paths):
        parsed = ParsedEntries()
        for path in paths:
            stream = sys.stdin if path == "-" else _open(path)
            label = "stdin" if path == "-" else path
            before = len(parsed.invalid)
            for number, line in enumerate(stream, start=1):
                parsed.add_line(number, line)
            for invalid in parsed.invalid[before:]:
                self.stderr.write(f"{label}: {invalid}")
            if stream is not sys.stdin:
                stream.close()
        return parsed

    def _report(self, batch, as_json):
        summary = progress.summary(batch)
        self.stdout.write(
            f"Batch {batch.pk}: {summary['status']}, {summary['domains']} domains "
            f"({summary['domains_failed']} failed), {summary['sitemaps']} sitemaps, {summary['urls']} URLs"
        )
        if as_json:
            self.stdout.write(json.dumps(summary))


def _open(path):
    try:
        return open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
