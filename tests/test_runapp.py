"""`make run` / `make demo` (runapp): Ctrl-C or SIGTERM to the process group stops web and cluster."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

from tests import cluster

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.slow]
CLUSTER_STOP_SECONDS_AND_SLACK = 12  # runapp.CLUSTER_STOP_SECONDS, then the kill and the web server's exit


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as stream:
            return [int(child) for child in stream.read().split()]
    except FileNotFoundError:
        return []


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def cluster_pid(runapp_pid):
    """The qcluster main process, once its sentinel has spawned the workers."""
    for child in children(runapp_pid):
        if len(children(child)) == 1 and len(children(children(child)[0])) >= 3:
            return child
    return None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_to_the_process_group_stops_web_and_cluster_within_seconds(sig, tmp_path):
    port = free_port()
    key_file = tmp_path / "secret_key"
    env = {"DATABASE_URL": cluster.test_database_url(), "PATH": "/usr/bin:/bin", "SECRET_KEY_FILE": str(key_file),
           "SITEMAPS_WORKERS": "2", "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "runapp.log", "w+")
    runapp = subprocess.Popen([sys.executable, "manage.py", "runapp", f"127.0.0.1:{port}"], cwd=cluster.ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_until(lambda: answers(f"http://127.0.0.1:{port}/accounts/login/"), 60), log.read()
        assert wait_until(lambda: cluster_pid(runapp.pid), 60)
        qcluster = cluster_pid(runapp.pid)
        time.sleep(1)  # the sentinel waits on its stop event: where a group signal used to wedge it

        os.killpg(runapp.pid, sig)  # what Ctrl-C in the terminal, or `kill -- -PGID`, sends

        runapp.wait(CLUSTER_STOP_SECONDS_AND_SLACK)
        assert wait_until(lambda: not group_alive(qcluster), 5)
        assert not answers(f"http://127.0.0.1:{port}/accounts/login/")
    finally:
        for pgid in (runapp.pid,):
            if group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
        log.seek(0)
        print(log.read())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_text().strip()) > 50
