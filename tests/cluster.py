"""Running real `manage.py qcluster` processes against the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection, connections

ROOT = Path(__file__).resolve().parent.parent


def test_database_url():
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def start_cluster(extra_env=None, name="sitemapadmin"):
    """Start a qcluster process on the test database; the caller stops it with stop_cluster."""
    connections.close_all()  # nothing of ours is shared with the child process
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": test_database_url(),
        "SITEMAPS_ALLOW_PRIVATE_HOSTS": "1",
        "SITEMAPS_RETRIES": "0",
        "SITEMAPS_WORKERS": "2",
        "Q_CLUSTER_NAME": name,
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra_env or {})
    log = open(ROOT / f".qcluster-{os.getpid()}-{time.monotonic_ns()}.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log = log
    return process


def stop_cluster(process, sig=signal.SIGTERM, timeout=20):
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    process.log.seek(0)
    output = process.log.read()
    process.log.close()
    os.unlink(process.log.name)
    return output


def wait_until(predicate, timeout=60.0, interval=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
