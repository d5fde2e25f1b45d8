"""What each index and foreign key of the URL table costs the PostgreSQL store, in rows/s.

Stores the same rows the way batches/store.py does (COPY into a staging table, then
INSERT ... SELECT ... ON CONFLICT DO NOTHING, one transaction per 10,000-row chunk sorted by
loc) into variants of the URL table, in a scratch database, and prints rows/s per variant.

    .venv/bin/python bench/store_schema.py --rows 500000 --repeat 3
"""

import argparse
import random
import statistics
import time
from datetime import datetime, timedelta, timezone

import psycopg

TABLE = """
CREATE TABLE domain (id bigint PRIMARY KEY);
CREATE TABLE sitemapfile (id bigint PRIMARY KEY);
INSERT INTO domain VALUES (1); INSERT INTO sitemapfile VALUES (1);
CREATE TABLE url (
    id bigserial PRIMARY KEY, loc varchar(2048) NOT NULL, lastmod timestamptz NULL,
    changefreq varchar(8) NOT NULL, priority double precision NULL, extras jsonb NULL,
    domain_id bigint NOT NULL, sitemap_id bigint NULL,
    CONSTRAINT url_unique_loc_per_domain UNIQUE (domain_id, loc));
"""
EXTRAS = {
    "fk_domain": "ALTER TABLE url ADD FOREIGN KEY (domain_id) REFERENCES domain (id) DEFERRABLE INITIALLY DEFERRED",
    "fk_sitemap": "ALTER TABLE url ADD FOREIGN KEY (sitemap_id) REFERENCES sitemapfile (id) DEFERRABLE INITIALLY DEFERRED",
    "idx_domain_id": "CREATE INDEX ON url (domain_id, id)",
    "idx_domain_lastmod": "CREATE INDEX ON url (domain_id, lastmod)",
    "idx_sitemap": "CREATE INDEX ON url (sitemap_id)",
}
VARIANTS = {
    "as in models.py (all of them)": list(EXTRAS),
    "without the foreign keys": ["idx_domain_id", "idx_domain_lastmod", "idx_sitemap"],
    "without (domain, lastmod)": ["fk_domain", "fk_sitemap", "idx_domain_id", "idx_sitemap"],
    "without (sitemap)": ["fk_domain", "fk_sitemap", "idx_domain_id", "idx_domain_lastmod"],
    "unique (domain, loc) only": [],
}


def rows(count):
    rng = random.Random(7)
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    return [
        (f"https://shop.example.com/products/{n // 50_000}/item-{n}-{rng.randrange(10**9)}.html",
         start + timedelta(seconds=rng.randrange(5 * 365 * 86400)), rng.choice(("daily", "weekly")),
         rng.randrange(1, 11) / 10, None)
        for n in range(count)
    ]


def store(conn, data, chunk=10_000):
    started = time.perf_counter()
    with conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS staging (loc text, lastmod timestamptz, changefreq text, "
                       "priority double precision, extras jsonb) ON COMMIT DELETE ROWS")
        conn.commit()
        for position in range(0, len(data), chunk):
            part = sorted(data[position : position + chunk])
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            with cursor.copy("COPY staging FROM STDIN") as copy:
                for row in part:
                    copy.write_row(row)
            cursor.execute("INSERT INTO url (domain_id, sitemap_id, loc, lastmod, changefreq, priority, extras) "
                           "SELECT 1, 1, loc, lastmod, changefreq, priority, extras FROM staging "
                           "ON CONFLICT (domain_id, loc) DO NOTHING")
            conn.commit()
    return len(data) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    data = rows(args.rows)
    results = {name: [] for name in VARIANTS}
    for _ in range(args.repeat):
        for name, extras in VARIANTS.items():
            with psycopg.connect(args.server + "/postgres", autocommit=True) as admin:
                admin.execute("DROP DATABASE IF EXISTS store_schema_bench WITH (FORCE)")
                admin.execute("CREATE DATABASE store_schema_bench")
            with psycopg.connect(args.server + "/store_schema_bench") as conn:
                conn.execute(TABLE)
                for extra in extras:
                    conn.execute(EXTRAS[extra])
                conn.commit()
                results[name].append(store(conn, data))
    for name, speeds in results.items():
        print(f"{name:<32} {statistics.median(speeds):>9,.0f} rows/s   runs: {' '.join(f'{s:,.0f}' for s in speeds)}")


if __name__ == "__main__":
    main()
