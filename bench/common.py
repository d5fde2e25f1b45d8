"""Helpers for the benchmarks: a throw-away PostgreSQL database, migrated, dropped afterwards."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def psql(sql, database="postgres"):
    subprocess.run(["psql", f"{SERVER}/{database}", "-qAtc", sql], check=True, capture_output=True)


@contextmanager
def bench_database(keep=False):
    """Yield a DATABASE_URL for a fresh, migrated database of its own."""
    name = f"sitemapadmin_bench_{os.getpid()}"
    psql(f"CREATE DATABASE {name}")
    url = f"{SERVER}/{name}"
    try:
        manage(url, "migrate", "--noinput", quiet=True)
        manage(url, "createcachetable", quiet=True)
        yield url
    finally:
        if not keep:
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def sqlite_database():
    """Yield a DATABASE_URL for a fresh, migrated SQLite file of its own (the embedded default)."""
    path = ROOT / f".bench/scale-{os.getpid()}.sqlite3"
    path.parent.mkdir(exist_ok=True)
    url = f"sqlite:///{path}"
    try:
        manage(url, "migrate", "--noinput", quiet=True)
        manage(url, "createcachetable", quiet=True)
        yield url
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def manage(database_url, *args, env=None, quiet=False, **kwargs):
    full_env = dict(os.environ, DATABASE_URL=database_url, **(env or {}))
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, check=True,
                          stdout=kwargs.pop("stdout", out), stderr=kwargs.pop("stderr", out), **kwargs)


class Timer:
    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
