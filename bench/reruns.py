"""Re-run benchmark: the 1,000,000-URL local site crawled once, then run again three ways.

1. nothing changed, every urlset answers 304 to its ETag (index lastmod not trusted);
2. nothing changed, the index lastmods did not move (no urlset is even asked for);
3. 1% of the URLs removed, 1% with a new lastmod and 1% added (every urlset changed).

4. for comparison, the other storage design (URL rows carrying first/last-seen batch ids): what
   touching every unchanged row once costs (one UPDATE of the first batch's rows, in place).

For each: the re-run's wall time (services.rerun_batch + processing the domain in this process), the
database growth (rows and bytes of the URL, sitemap and domain tables) and the change counts.

    .venv/bin/python bench/reruns.py [--files 20] [--port 8790]

A PostgreSQL database of its own is created, migrated and dropped (BENCH_POSTGRES).
"""

import argparse
import os
import subprocess
import sys
import time

from common import ROOT, Timer, bench_database

TABLES = ("batches_url", "batches_sitemapfile", "batches_domain")


def start_site(files, port, change_percent=0):
    args = [sys.executable, "bench/site.py", "serve", "--files", str(files), "--port", str(port), "--etags",
            "--change-percent", str(change_percent)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def table_sizes():
    from django.db import connection

    with connection.cursor() as cursor:
        sizes = {}
        for table in TABLES:
            cursor.execute(f"SELECT COUNT(*), pg_total_relation_size('{table}') FROM {table}")
            sizes[table] = cursor.fetchone()
    return sizes


def growth(before, after):
    return ", ".join(f"{table[8:]} +{after[table][0] - before[table][0]:,} rows "
                     f"+{(after[table][1] - before[table][1]) / 1e6:.1f} MB" for table in TABLES)


def rerun(batch_id, trust_index_lastmod):
    from django.db import transaction
    from django.test import override_settings

    from batches.models import Batch
    from batches.services import rerun_batch
    from batches.worker import process_batch_here

    before = table_sizes()
    with override_settings(SITEMAPS_TRUST_INDEX_LASTMOD=trust_index_lastmod), Timer() as timer:
        with transaction.atomic():
            batch = rerun_batch(batch_id, enqueue=False)
        process_batch_here(batch.pk)
    batch = Batch.objects.get(pk=batch.pk)
    return batch, timer.seconds, growth(before, table_sizes())


def time_changes(old_batch_id, new_batch_id):
    """The change counts again, and the whole export_changes stream, on their own."""
    from batches.changes import count_domain_changes
    from batches.changes_export import change_rows
    from batches.models import Domain

    old, new = (Domain.objects.get(batch_id=pk).pk for pk in (old_batch_id, new_batch_id))
    with Timer() as counting:
        counts = count_domain_changes(old, new)
    with Timer() as streaming:
        rows = sum(1 for _ in change_rows(new_batch_id, old_batch_id))
    print(f"change counts {counts} in {counting.seconds:.2f} s; export_changes streamed {rows:,} rows "
          f"in {streaming.seconds:.2f} s", flush=True)


def touch_every_row(batch_id):
    """What a last-seen-batch column would cost a re-run with nothing changed: every row updated."""
    from django.db import connection

    before = table_sizes()
    with Timer() as timer, connection.cursor() as cursor:
        cursor.execute("UPDATE batches_url SET priority = priority WHERE domain_id IN "
                       "(SELECT id FROM batches_domain WHERE batch_id = %s)", [batch_id])
        touched = cursor.rowcount
    print(f"other design, last-seen update of {touched:,} unchanged rows: {timer.seconds:.2f} s; "
          f"{growth(before, table_sizes())}", flush=True)


def report(label, batch, seconds, grown):
    print(f"{label}: {seconds:.2f} s; {batch.urls_count:,} URLs, added {batch.urls_added:,}, "
          f"removed {batch.urls_removed:,}, modified {batch.urls_modified:,}, sitemaps unchanged "
          f"{batch.sitemaps_unchanged} of {batch.sitemaps_count}; {grown}", flush=True)


def main(files, port):
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import transaction

    from batches.entries import parse_text
    from batches.services import create_batch, process_batch_here

    owner = User.objects.create_user("bench")
    site = start_site(files, port)
    try:
        with Timer() as timer:
            with transaction.atomic():
                first = create_batch(owner, "bench", parse_text(f"http://127.0.0.1:{port}").entries, enqueue=False)
            process_batch_here(first.pk)
        first.refresh_from_db()
        print(f"first run: {timer.seconds:.2f} s, {first.urls_count:,} URLs in {first.sitemaps_count} sitemaps",
              flush=True)
        second, seconds, grown = rerun(first.pk, trust_index_lastmod=False)
        report("re-run, every urlset 304", second, seconds, grown)
        third, seconds, grown = rerun(second.pk, trust_index_lastmod=True)
        report("re-run, index lastmods unmoved", third, seconds, grown)
    finally:
        site.terminate()
        site.wait()
    site = start_site(files, port, change_percent=1)
    try:
        fourth, seconds, grown = rerun(third.pk, trust_index_lastmod=True)
        report("re-run, 1% added/removed/modified", fourth, seconds, grown)
        expected = files * 500
        exact = (fourth.urls_added, fourth.urls_removed, fourth.urls_modified) == (expected,) * 3
        print(f"expected {expected:,} of each: {'exact' if exact else 'MISMATCH'}", flush=True)
        time_changes(third.pk, fourth.pk)
        touch_every_row(first.pk)
    finally:
        site.terminate()
        site.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20, help="urlsets of 50,000 URLs")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.1f}", flush=True)
    with bench_database() as url:
        os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="sitemapadmin.settings",
                          SITEMAPS_ALLOW_PRIVATE_HOSTS="1", SITEMAPS_PROBE_WELL_KNOWN="0", SITEMAPS_RETRIES="0")
        started = time.monotonic()
        main(args.files, args.port)
        print(f"total {time.monotonic() - started:.0f} s", flush=True)
