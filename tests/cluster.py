"""Running real `manage.py qcluster` processes against the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
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
        # The key the tests sign tasks with; given explicitly, as qcluster refuses to fall back
        # on the development key (sitemapadmin/secret_key.py).
        "SECRET_KEY": settings.SECRET_KEY,
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
    """Stop the cluster; return its output. SIGTERM goes to the main process only: django-q2
    then stops its workers in order (a SIGTERM to every process at once can hang its shutdown)."""
    if process.poll() is None:
        if sig == signal.SIGTERM:
            process.send_signal(sig)
        else:
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # anything of it still alive
    except ProcessLookupError:
        pass
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


def wait_until_db(predicate, timeout=60.0, interval=0.25):
    """wait_until for a predicate that reads the database while it may be unreachable."""
    from django.db import DatabaseError

    def guarded():
        try:
            return predicate()
        except DatabaseError:
            connections.close_all()
            return False

    return wait_until(guarded, timeout, interval)


def kill_cluster(process):
    """SIGKILL the cluster and every worker it forked, as a machine losing power would."""
    return stop_cluster(process, sig=signal.SIGKILL)


# Settings for cluster processes in fault tests: heartbeats and reaping in seconds. (Ten heartbeats
# to go stale: on a loaded machine SQLite's write lock can hold a heartbeat back for seconds.)
FAST_RECOVERY = {
    "SITEMAPS_STALE_AFTER": "5",
    "SITEMAPS_HEARTBEAT": "0.5",
    "SITEMAPS_REAP_INTERVAL": "1",
    "SITEMAPS_DB_OUTAGE": "60",
}
