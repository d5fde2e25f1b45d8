"""Writing URL chunks fast, counting the new rows (duplicates of a domain's loc are ignored).

Per-object ORM saves are far too slow for millions of URLs, and bulk_create(ignore_conflicts)
cannot say how many rows were new, which the counters need. Each chunk is sorted by loc first:
inserts then walk the unique (domain, loc) index in order instead of at random.

- PostgreSQL: COPY the chunk into a connection-local staging table, then one
  INSERT ... SELECT ... ON CONFLICT DO NOTHING (COPY is the fastest way in; the INSERT does the
  de-duplication and its row count is the number of new rows).
- SQLite (and anything else): one prepared INSERT ... ON CONFLICT DO NOTHING run with
  executemany, which sqlite3 executes in C.
"""

import json
from datetime import timezone
from operator import attrgetter

from django.db import connection, transaction

from .models import Url

_COLUMNS = "domain_id, sitemap_id, loc, lastmod, changefreq, priority, extras"
_STAGING = "sitemap_url_staging"
_by_loc = attrgetter("loc")


def insert_urls(domain_id, sitemap_id, records):
    """Insert UrlRecords for one domain; returns how many were new (duplicates are ignored)."""
    if not records:
        return 0
    rows = sorted(records, key=_by_loc)
    if connection.vendor == "postgresql":
        return _insert_postgresql(domain_id, sitemap_id, rows)
    return _insert_executemany(domain_id, sitemap_id, rows)


def _insert_postgresql(domain_id, sitemap_id, rows):
    table = Url._meta.db_table
    # savepoint=False: a plain transaction when called alone, nothing extra inside the caller's
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # One round trip: a crashed worker's domain is crawled again, so waiting for the WAL
        # flush buys nothing; the staging table lives as long as the connection, emptied by
        # ON COMMIT DELETE ROWS after each transaction and by the DELETE within one.
        cursor.execute(
            "SET LOCAL synchronous_commit TO OFF; "
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} "
            "(loc text, lastmod timestamptz, changefreq text, priority double precision, extras jsonb) "
            f"ON COMMIT DELETE ROWS; DELETE FROM {_STAGING}"
        )
        with cursor.cursor.copy(f"COPY {_STAGING} (loc, lastmod, changefreq, priority, extras) FROM STDIN") as copy:
            write_row = copy.write_row
            for record in rows:
                extras = record.extras
                write_row((record.loc, record.lastmod, record.changefreq, record.priority,
                           json.dumps(extras) if extras else None))
        cursor.execute(
            f"INSERT INTO {table} ({_COLUMNS}) "
            f"SELECT %s, %s, loc, lastmod, changefreq, priority, extras FROM {_STAGING} "
            "ON CONFLICT (domain_id, loc) DO NOTHING",
            [domain_id, sitemap_id],
        )
        return max(cursor.rowcount, 0)


# SQLite's page cache and checkpoint interval are raised in settings (init_command): its default
# 2 MB cache thrashes once the URL indexes outgrow it, and a WAL checkpoint every 1,000 pages runs
# after nearly every 10,000-URL chunk; together they cost about 40% (bench/engine_vs_usp.py).


def _insert_executemany(domain_id, sitemap_id, rows):
    table = Url._meta.db_table
    adapt = _datetime_adapter()
    params = [
        (domain_id, sitemap_id, record.loc, adapt(record.lastmod) if record.lastmod else None,
         record.changefreq, record.priority, json.dumps(record.extras) if record.extras else None)
        for record in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (domain_id, loc) DO NOTHING",
            params,
        )
        return max(cursor.rowcount, 0)


def _datetime_adapter():
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor != "sqlite":
        return adapt

    def adapt_utc(value):
        # What Django's SQLite backend stores is naive UTC text; the engine's datetimes are
        # in UTC already, so cutting "+00:00" off is the whole conversion.
        return value.isoformat(" ")[:-6] if value.tzinfo is timezone.utc else adapt(value)

    return adapt_utc
