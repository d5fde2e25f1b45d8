"""What each part of storing URL rows costs, on PostgreSQL and SQLite, in rows/s.

Stores the same rows (locs like the benchmark site's, with lastmod, changefreq and priority)
in 10,000-row transactions into a scratch database, once per variant, and prints the median
rows/s and the client's own CPU time (what the worker's Python thread pays; the rest is the
database server's). Each variant changes one thing against its base line, so the differences
say what that one thing costs: the staging table, ON CONFLICT against the unique index, a text
or a bigint unique key, the (domain, id) index, sorting, JSON of extras, counters, WAL and
transaction size.

    .venv/bin/python bench/store_schema.py --rows 500000 --repeat 3
    .venv/bin/python bench/store_schema.py --only sqlite --rows 200000

Keys here are a blake2b of the loc (identity.url_key without the normal form, whose cost is
printed on its own line: it is the worker's, not the database's).
"""

import argparse
import hashlib
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import timeit
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from batches.sitemaps.identity import url_key  # noqa: E402  (the engine imports no Django)

CHUNK = 10_000

PG_TABLE = """
CREATE TABLE url (
    id bigserial PRIMARY KEY, loc varchar(2048) NOT NULL, lastmod timestamptz NULL,
    changefreq varchar(8) NOT NULL, priority double precision NULL, extras jsonb NULL,
    domain_id bigint NOT NULL, sitemap_id bigint NULL, loc_key bigint NOT NULL);
CREATE TABLE counters (id bigint PRIMARY KEY, urls bigint NOT NULL);
INSERT INTO counters VALUES (1, 0), (2, 0);
CREATE TABLE months (domain_id bigint, month date, urls bigint, PRIMARY KEY (domain_id, month));
"""
PG_INDEXES = {
    "unique_loc": "CREATE UNIQUE INDEX url_unique ON url (domain_id, loc)",
    "unique_key": "CREATE UNIQUE INDEX url_unique ON url (domain_id, loc_key)",
    "domain_id": "CREATE INDEX url_domain_id ON url (domain_id, id)",
}
SQLITE_TABLE = """
CREATE TABLE url (
    id integer PRIMARY KEY AUTOINCREMENT, loc varchar(2048) NOT NULL, lastmod datetime NULL,
    changefreq varchar(8) NOT NULL, priority real NULL, extras text NULL,
    domain_id bigint NOT NULL, sitemap_id bigint NULL, loc_key bigint NOT NULL);
"""


class Variant:
    def __init__(self, name, indexes=("unique_key", "domain_id"), method="copy", sort="key", extras=False,
                 chunk=CHUNK, sync=False, unlogged=False, check=False, counters=False, pragmas=(), keys="hash", group=""):
        self.name, self.indexes, self.method, self.sort, self.keys = name, indexes, method, sort, keys
        self.extras, self.chunk, self.sync, self.unlogged = extras, chunk, sync, unlogged
        self.check, self.counters, self.pragmas, self.group = check, counters, pragmas, group


TODAY = dict(indexes=("unique_loc", "domain_id"), method="staging", sort="loc")
POSTGRES = [
    Variant("0004: staging + ON CONFLICT, unique (domain, loc) text", **TODAY),
    Variant("  the same, chunks not sorted", **(TODAY | {"sort": None})),
    Variant("  the same, extras JSON on every row", **TODAY, extras=True),
    Variant("  the same, synchronous_commit on", **TODAY, sync=True),
    Variant("  the same, 50,000-row transactions", **TODAY, chunk=50_000),
    Variant("  the same, without (domain, id)", **(TODAY | {"indexes": ("unique_loc",)})),
    Variant("staging + ON CONFLICT, unique (domain, loc_key) bigint", method="staging"),
    Variant("COPY straight in, unique (domain, loc_key), (domain, id)"),
    Variant("  the same, chunks not sorted", sort=None),
    Variant("  + an existence check of every key (= ANY)", check=True),
    Variant("  + counters and month histogram, per chunk", counters=True),
    Variant("  the same, 50,000-row transactions", chunk=50_000),
    Variant("  without (domain, id)", indexes=("unique_key",)),
    Variant("  unlogged table (no WAL)", unlogged=True),
    Variant("COPY straight in, primary key only (the floor)", indexes=()),
]
SQLITE_TODAY = dict(indexes=("unique_loc", "domain_id"), method="conflict", sort="loc",
                    pragmas=("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-32000", "wal_autocheckpoint=10000"))
SQLITE_NEW = dict(SQLITE_TODAY, indexes=("unique_key", "domain_id"), method="insert", sort="key")
# What sitemapadmin/settings.py sets on every SQLite connection (before issue 11's second round)
SQLITE_SETTINGS = ("page_size=16384", "journal_mode=WAL", "synchronous=NORMAL", "cache_size=-32000",
                   "wal_autocheckpoint=2500")
SQLITE_JSON = dict(SQLITE_NEW, method="json", sort=None, pragmas=SQLITE_SETTINGS)
SQLITE_JSON_S = dict(SQLITE_JSON, group="settings")  # --group settings: these variants only
SQLITE = [
    Variant("0004: executemany ON CONFLICT, unique (domain, loc) text", **SQLITE_TODAY),
    Variant("  the same, chunks not sorted", **(SQLITE_TODAY | {"sort": None})),
    Variant("  the same, page_size 16384", **(SQLITE_TODAY | {"pragmas": ("page_size=16384",) + SQLITE_TODAY["pragmas"]})),
    Variant("executemany ON CONFLICT, unique (domain, loc_key)", **(SQLITE_NEW | {"method": "conflict"})),
    Variant("executemany INSERT, unique (domain, loc_key), (domain, id)", **SQLITE_NEW),
    Variant("one INSERT ... SELECT over json_each, the same indexes", **(SQLITE_NEW | {"method": "json"})),
    Variant("  the same, chunks not sorted", **(SQLITE_NEW | {"sort": None})),
    Variant("  the same, page_size 8192", **(SQLITE_NEW | {"pragmas": ("page_size=8192",) + SQLITE_NEW["pragmas"]})),
    Variant("  the same, page_size 16384", **(SQLITE_NEW | {"pragmas": ("page_size=16384",) + SQLITE_NEW["pragmas"]})),
    Variant("  the same, synchronous OFF", **(SQLITE_NEW | {"pragmas": SQLITE_NEW["pragmas"] + ("synchronous=OFF",)})),
    Variant("  the same, 50,000-row transactions", **SQLITE_NEW, chunk=50_000),
    Variant("  the same, default cache and checkpoints",
            **(SQLITE_NEW | {"pragmas": ("journal_mode=WAL", "synchronous=NORMAL")})),
    Variant("  without (domain, id)", **(SQLITE_NEW | {"indexes": ("unique_key",)})),
    Variant("executemany INSERT, primary key only (the floor)", **(SQLITE_NEW | {"indexes": ()})),
    Variant("settings.py today: json_each, 16 KiB pages, 32 MB cache", **SQLITE_JSON_S),
    Variant("  the same, keys in insertion order (what random keys cost)", **SQLITE_JSON_S, keys="sequential"),
    Variant("  the same, 4 KiB pages", **(SQLITE_JSON_S | {"pragmas": ("page_size=4096",) + SQLITE_SETTINGS[1:]})),
    Variant("  the same, 64 MB cache", **(SQLITE_JSON_S | {"pragmas": SQLITE_SETTINGS + ("cache_size=-64000",)})),
    Variant("  the same, 8 MB cache", **(SQLITE_JSON_S | {"pragmas": SQLITE_SETTINGS + ("cache_size=-8000",)})),
    Variant("  the same, checkpoints every 160 MB of WAL",
            **(SQLITE_JSON_S | {"pragmas": SQLITE_SETTINGS + ("wal_autocheckpoint=10000",)})),
    Variant("  the same, 100,000-row transactions", **SQLITE_JSON_S, chunk=100_000),
    Variant("  the same, mmap of 256 MB", **(SQLITE_JSON_S | {"pragmas": SQLITE_SETTINGS + ("mmap_size=268435456",)})),
    Variant("  the same, 16 MB cache", **(SQLITE_JSON_S | {"pragmas": SQLITE_SETTINGS + ("cache_size=-16000",)})),
    Variant("  the same, 64 MB cache, checkpoints every 160 MB",
            **(SQLITE_JSON_S | {"pragmas": SQLITE_SETTINGS + ("cache_size=-64000", "wal_autocheckpoint=10000")})),
]


def make_rows(count):
    """(loc, lastmod, changefreq, priority, extras, loc_key) like the benchmark site's URLs."""
    rng = random.Random(7)
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    rows = []
    for n in range(count):
        loc = f"http://127.0.0.1:8765/products/{n // 50_000}/item-{n % 50_000}-{rng.randrange(10**9)}.html"
        key = int.from_bytes(hashlib.blake2b(loc.encode(), digest_size=8).digest(), "big", signed=True)
        rows.append((loc, start + timedelta(seconds=rng.randrange(5 * 365 * 86400)),
                     rng.choice(("daily", "weekly")), rng.randrange(1, 11) / 10, key))
    return rows


EXTRAS = json.dumps({"images": [{"loc": "https://cdn.example.com/a.jpg", "caption": "A product"}]})


def ordered(part, sort):
    if sort == "loc":
        return sorted(part)
    if sort == "key":
        return sorted(part, key=lambda row: row[4])
    return part


def months_of(part):
    counts = {}
    for row in part:
        month = row[1].date().replace(day=1)
        counts[month] = counts.get(month, 0) + 1
    return counts


# --- PostgreSQL ------------------------------------------------------------------
def pg_store(conn, data, variant):
    cursor = conn.cursor()
    cursor.execute("CREATE TEMP TABLE IF NOT EXISTS staging (loc text, lastmod timestamptz, changefreq text, "
                   "priority double precision, extras jsonb, loc_key bigint) ON COMMIT DELETE ROWS")
    conn.commit()
    extras = EXTRAS if variant.extras else None
    wall, cpu = time.perf_counter(), time.process_time()
    for position in range(0, len(data), variant.chunk):
        part = ordered(data[position : position + variant.chunk], variant.sort)
        if not variant.sync:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        if variant.check:
            cursor.execute("SELECT loc_key FROM url WHERE domain_id = 1 AND loc_key = ANY(%s)",
                           [[row[4] for row in part]])
            existing = {key for (key,) in cursor.fetchall()}
            part = [row for row in part if row[4] not in existing]
        if variant.method == "staging":
            with cursor.copy("COPY staging (loc, lastmod, changefreq, priority, extras, loc_key) FROM STDIN") as copy:
                for loc, lastmod, changefreq, priority, key in part:
                    copy.write_row((loc, lastmod, changefreq, priority, extras, key))
            target = "(domain_id, loc)" if "unique_loc" in variant.indexes else "(domain_id, loc_key)"
            cursor.execute("INSERT INTO url (domain_id, sitemap_id, loc, lastmod, changefreq, priority, extras, loc_key) "
                           "SELECT 1, 1, loc, lastmod, changefreq, priority, extras, loc_key FROM staging "
                           f"ON CONFLICT {target} DO NOTHING")
        else:
            with cursor.copy("COPY url (domain_id, sitemap_id, loc, lastmod, changefreq, priority, extras, loc_key) "
                             "FROM STDIN") as copy:
                for loc, lastmod, changefreq, priority, key in part:
                    copy.write_row((1, 1, loc, lastmod, changefreq, priority, extras, key))
        if variant.counters:
            for counter in (1, 2):  # the domain's and the batch's
                cursor.execute("UPDATE counters SET urls = urls + %s WHERE id = %s", [len(part), counter])
            months = months_of(part)
            cursor.execute("INSERT INTO months SELECT 1, * FROM unnest(%s::date[], %s::bigint[]) "
                           "ON CONFLICT (domain_id, month) DO UPDATE SET urls = months.urls + excluded.urls",
                           [list(months), list(months.values())])
        conn.commit()
    return len(data) / (time.perf_counter() - wall), time.process_time() - cpu


def pg_run(server, data, variant):
    with psycopg.connect(server + "/postgres", autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS store_schema_bench WITH (FORCE)")
        admin.execute("CREATE DATABASE store_schema_bench")
    with psycopg.connect(server + "/store_schema_bench") as conn:
        table = PG_TABLE.replace("CREATE TABLE url", "CREATE UNLOGGED TABLE url") if variant.unlogged else PG_TABLE
        conn.execute(table)
        for index in variant.indexes:
            conn.execute(PG_INDEXES[index])
        conn.commit()
        return pg_store(conn, data, variant)


# --- SQLite ----------------------------------------------------------------------
def sqlite_run(data, variant):
    with tempfile.TemporaryDirectory() as folder:
        conn = sqlite3.connect(os.path.join(folder, "bench.sqlite3"), isolation_level=None)
        for pragma in variant.pragmas:
            conn.execute(f"PRAGMA {pragma}")
        conn.executescript(SQLITE_TABLE)
        for index in variant.indexes:
            conn.execute(PG_INDEXES[index])
        extras = EXTRAS if variant.extras else None
        conflict = ""
        if variant.method == "conflict":
            conflict = " ON CONFLICT (domain_id, loc) DO NOTHING" if "unique_loc" in variant.indexes \
                else " ON CONFLICT (domain_id, loc_key) DO NOTHING"
        sql = ("INSERT INTO url (domain_id, sitemap_id, loc, lastmod, changefreq, priority, extras, loc_key) "
               f"VALUES (1, 1, ?, ?, ?, ?, ?, ?){conflict}")
        json_sql = ("INSERT INTO url (domain_id, sitemap_id, loc, lastmod, changefreq, priority, extras, loc_key) "
                    "SELECT 1, 1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 "
                    "FROM json_each(?)")
        wall, cpu = time.perf_counter(), time.process_time()
        for position in range(0, len(data), variant.chunk):
            part = ordered(data[position : position + variant.chunk], variant.sort)
            if variant.keys == "sequential":
                part = [row[:4] + (position + n,) for n, row in enumerate(part)]
            params = [(loc, lastmod.isoformat(" ")[:-6], changefreq, priority, extras, key)
                      for loc, lastmod, changefreq, priority, key in part]
            conn.execute("BEGIN IMMEDIATE")
            if variant.method == "json":
                conn.execute(json_sql, [json.dumps(params)])
            else:
                conn.executemany(sql, params)
            conn.execute("COMMIT")
        speed = len(data) / (time.perf_counter() - wall), time.process_time() - cpu
        conn.close()
        return speed


def key_cost_us():
    loc = "http://127.0.0.1:8765/products/3/item-12345-987654321.html"
    runs = 100_000
    return timeit.timeit(lambda: url_key(loc), number=runs) / runs * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("postgres", "sqlite"))
    parser.add_argument("--match", default="", help="run only the variants whose name contains this")
    parser.add_argument("--group", default="", help="run only the variants of this group (settings)")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    data = make_rows(args.rows)
    plan = []
    if args.only != "sqlite":
        plan += [("postgres", v, lambda v: pg_run(args.server, data, v)) for v in POSTGRES]
    if args.only != "postgres":
        plan += [("sqlite", v, lambda v: sqlite_run(data, v)) for v in SQLITE]
    plan = [step for step in plan if args.match in step[1].name and (not args.group or step[1].group == args.group)]
    results = {}
    loads = [os.getloadavg()[0]]
    for _ in range(args.repeat):
        for step, (database, variant, run) in enumerate(plan):  # interleaved: a burst of load hits all alike
            results.setdefault((step, database, variant.name), []).append(run(variant))
            loads.append(os.getloadavg()[0])
    print(f"{args.rows:,} rows, {CHUNK:,} per transaction unless said; median of {args.repeat}; "
          f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs")
    print(f"{'':8} {'variant':<60} {'rows/s':>9} {'client CPU s/1M':>16}   runs (rows/s)")
    for (_, database, name), outcomes in results.items():
        speed = statistics.median(s for s, _ in outcomes)
        cpu = statistics.median(c for _, c in outcomes) * 1_000_000 / args.rows
        print(f"{database:8} {name:<60} {speed:>9,.0f} {cpu:>16.2f}   {' '.join(f'{s:,.0f}' for s, _ in outcomes)}")
    print(f"identity.url_key (normal form + blake2b), per URL: {key_cost_us():.2f} µs")


if __name__ == "__main__":
    main()
