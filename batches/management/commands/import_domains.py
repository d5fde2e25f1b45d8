import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from batches import progress
from batches.entries import InvalidLine, parse_line
from batches.models import Batch
from batches.owners import command_user
from batches.services import create_batch
from batches.worker import process_batch_here


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
        # The file is streamed into the database in chunks (bounded memory for millions of
        # lines); duplicates are dropped by the (batch, host) unique index as rows go in.
        self.valid = self.invalid = 0
        bar = tqdm(unit=" lines", file=self.stderr, disable=None, leave=False, desc="importing")
        with transaction.atomic():
            batch = create_batch(owner, name, self._entries(paths or ["-"]), enqueue=not sync,
                                 on_progress=lambda read: bar.update(read - bar.n))
            bar.close()
            self.stderr.write(f"{batch.domains_total} valid, {self.valid - batch.domains_total} duplicate, "
                              f"{self.invalid} invalid")
            if not batch.domains_total:
                raise CommandError("no valid entry: nothing to import")
        self.stdout.write(f"Created batch {batch.pk} ({batch.name}) with {batch.domains_total} domains")
        if sync:
            process_batch_here(batch.pk, on_progress=progress.bar_for(batch, self.stderr))
        elif wait:
            progress.wait_for(batch.pk, self.stderr)
        progress.report(self.stdout, Batch.objects.get(pk=batch.pk), json)

    def _entries(self, paths):
        for path in paths:
            stream = sys.stdin if path == "-" else _open(path)
            label = "stdin" if path == "-" else path
            try:
                for number, line in enumerate(stream, start=1):
                    result = parse_line(number, line)
                    if result is None:
                        continue
                    if isinstance(result, InvalidLine):
                        self.invalid += 1
                        self.stderr.write(f"{label}: {result}")
                        continue
                    self.valid += 1
                    yield result
            finally:
                if stream is not sys.stdin:
                    stream.close()


def _open(path):
    try:
        return open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
