"""`manage.py migrate` alone, as a container or a platform runs it, gives a working database."""

import os
import sqlite3
import subprocess
import sys

from django.conf import settings


def test_migrate_alone_creates_the_cache_table_logins_and_health_need(tmp_path):
    database = tmp_path / "fresh.sqlite3"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{database}")
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=settings.BASE_DIR,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(database) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(sitemapadmin_cache)")]
    assert columns == ["cache_key", "value", "expires"]
    dry_run = subprocess.run([sys.executable, "manage.py", "createcachetable", "--dry-run"], cwd=settings.BASE_DIR,
                             env=env, capture_output=True, text=True, timeout=60)
    # nothing left for make's own createcachetable to do
    assert (dry_run.returncode, dry_run.stdout) == (0, "Cache table 'sitemapadmin_cache' already exists.\n")
