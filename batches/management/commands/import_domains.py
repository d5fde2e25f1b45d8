import ipaddress
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from batches import progress
from batches.entries import CsvFirstColumn, InvalidLine, bounded_lines, parse_line
from batches.heap import freeze_loaded
from batches.models import SKIPPED_LINES_KEPT, Batch, DomainStatus
from batches.owners import command_user
from batches.services import create_batch
from batches.worker import process_batch_here

# The exit status of --fail-on-error when a domain failed (0: none did; 1: the command itself failed).
EXIT_DOMAINS_FAILED = 3
PRIVATE_HOSTS_HINT = (
    "{count} failed domain{s} name{verb} a loopback or private address, which the address guard refuses; "
    "to crawl local or intranet hosts, set SITEMAPS_ALLOW_PRIVATE_HOSTS=1 (or list trusted addresses in "
    "SITEMAPS_ALLOWED_ADDRESSES)"
)


class Command(BaseCommand):
    help = ("Create a batch from files of domains or URLs (one a line, or a .csv's first column; "
            "'-' reads standard input).")

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", metavar="PATH", help="files to read; '-' or none reads stdin")
        parser.add_argument("--name", default="", help="batch name (default: the first hosts)")
        parser.add_argument("--user", help="owner's username (default: the first superuser)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--sync", action="store_true", help="process the batch in this process, then return")
        mode.add_argument("--wait", action="store_true", help="enqueue, then show progress until the cluster finishes")
        parser.add_argument("--json", action="store_true", help="end stdout with one JSON object")
        parser.add_argument("--csv", action="store_true", help="read every input as CSV (default: files named .csv)")
        parser.add_argument("--fail-on-error", action="store_true",
                            help=f"with --sync or --wait, exit {EXIT_DOMAINS_FAILED} when any domain failed")

    def handle(self, paths, name, user, sync, wait, json, csv, fail_on_error, **options):
        owner = command_user(user)
        self.stderr.style_func = None  # notes and progress, not errors: never in the error style
        # The file is streamed into the database in chunks (bounded memory for millions of
        # lines); duplicates are dropped by the (batch, host) unique index as rows go in.
        self.valid = self.invalid = 0
        self.skipped = []  # the first invalid lines, kept with the batch
        bar = tqdm(unit=" lines", file=progress.plain(self.stderr), disable=None, leave=False, desc="importing")
        with transaction.atomic():
            batch = create_batch(owner, name, self._entries(paths or ["-"], csv), enqueue=not sync,
                                 on_progress=lambda read: bar.update(read - bar.n))
            bar.close()
            batch.keep_skipped_lines(self.skipped, total=self.invalid)
            self.stderr.write(f"{batch.domains_total} valid, {self.valid - batch.domains_total} duplicate, "
                              f"{self.invalid} invalid")
            if not batch.domains_total:
                raise CommandError("no valid entry: nothing to import")
        self.stdout.write(f"Created batch {batch.pk} ({batch.name}) with {batch.domains_total} domains")
        if sync:
            freeze_loaded()
            process_batch_here(batch.pk, on_progress=progress.Progress(batch, self.stderr))
        elif wait:
            progress.wait_for(batch.pk, self.stderr)
        batch = Batch.objects.get(pk=batch.pk)
        self._hint_private_hosts(batch)
        progress.report(self.stdout, batch, json)
        if fail_on_error and batch.domains_failed:
            sys.exit(EXIT_DOMAINS_FAILED)

    def _entries(self, paths, as_csv):
        for path in paths:
            stream = sys.stdin if path == "-" else _open(path)
            label = "stdin" if path == "-" else path
            column = CsvFirstColumn() if as_csv or path.lower().endswith(".csv") else None
            try:
                for number, line in enumerate(bounded_lines(stream), start=1):
                    result = parse_line(number, column.cell(number, line) if column else line)
                    if column and column.header and column.header[0] == number:
                        self.stderr.write(f"{label}: line {number}: header row {column.header[1]!r} skipped")
                    if result is None:
                        continue
                    if isinstance(result, InvalidLine):
                        self.invalid += 1
                        if len(self.skipped) < SKIPPED_LINES_KEPT:
                            self.skipped.append((f"{label} line {number}", result.reason, result.text))
                        self.stderr.write(f"{label}: {result}")
                        continue
                    self.valid += 1
                    yield result
            finally:
                if stream is not sys.stdin:
                    stream.close()

    def _hint_private_hosts(self, batch):
        """Say how to allow local hosts when the guard refused some (the demo sites are on 127.0.0.1)."""
        if settings.SITEMAPS_ALLOW_PRIVATE_HOSTS or not batch.domains_failed:
            return
        failed = batch.domains.filter(status=DomainStatus.FAILED).values_list("host", "error")
        count = sum(1 for host, error in failed.iterator() if _refused_as_private(host, error))
        if count:
            self.stderr.write(PRIVATE_HOSTS_HINT.format(count=count, s="" if count == 1 else "s",
                                                        verb="s" if count == 1 else ""))


def _refused_as_private(host, error):
    """Whether a failed domain points at a non-public address: an IP literal or localhost, or the
    guard's own refusal (its text names the address it refused)."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:host.index("]")]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(name).is_global
    except ValueError:
        return "refused to fetch" in error or "not a public address" in error


def _open(path):
    try:
        return open(path, encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
