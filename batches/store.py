"""Writing URL chunks fast: multi-row INSERT ... ON CONFLICT DO NOTHING, counting the new rows.

Per-object ORM saves are far too slow for millions of URLs, and bulk_create(ignore_conflicts)
cannot say how many rows were new, which the counters need.
"""

import json

from django.db import connection

from .models import Url

ROWS_PER_STATEMENT = 500
_COLUMNS = "(domain_id, sitemap_id, loc, lastmod, changefreq, priority, extras)"


def insert_urls(domain_id, sitemap_id, records):
    """Insert UrlRecords for one domain; returns how many were new (duplicates are ignored)."""
    # Sorting by loc keeps index inserts local in the unique (domain, loc) index.
    rows = sorted(records, key=lambda record: record.loc)
    adapt = connection.ops.adapt_datetimefield_value
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[start : start + ROWS_PER_STATEMENT]
            params = []
            for record in part:
                params.extend((
                    domain_id, sitemap_id, record.loc, adapt(record.lastmod), record.changefreq,
                    record.priority, json.dumps(record.extras) if record.extras else None,
                ))
            placeholders = ",".join(["(%s,%s,%s,%s,%s,%s,%s)"] * len(part))
            cursor.execute(
                f"INSERT INTO {Url._meta.db_table} {_COLUMNS} VALUES {placeholders} "
                "ON CONFLICT (domain_id, loc) DO NOTHING",
                params,
            )
            inserted += max(cursor.rowcount, 0)
    return inserted
