"""`make run` and `make demo`: the web server and one qcluster, stopped together.

django-q2's qcluster stops in order only when its main process alone gets SIGTERM: it then
tells its sentinel through a shared Event, and the sentinel stops pusher, workers and monitor.
A SIGTERM or Ctrl-C to the whole process group also kills the sentinel outright, possibly
while it holds that Event's lock, and the main process then waits on the lock forever. So the
cluster runs in a session of its own, out of reach of the terminal's and the group's signals;
this command forwards the stop to its main process alone and, if the cluster has not ended
within CLUSTER_STOP_SECONDS (a worker in the middle of a long domain), kills its whole group;
the reaper queues such a domain again.
"""

import ctypes
import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from batches.demo.sites import start_demo_sites
from sitemapadmin.secret_key import ensure_local_key

CLUSTER_STOP_SECONDS = 5
PR_SET_PDEATHSIG = 1


class Command(BaseCommand):
    help = "Run the web server and one qcluster worker together (what `make run` starts)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--demo", action="store_true",
                            help="also serve demo sitemap sites on 127.0.0.1 and allow fetching them")

    def handle(self, addrport, demo, **options):
        env = dict(os.environ)
        self._use_local_key(env)
        demo_sites = None
        if demo:
            demo_sites = start_demo_sites()
            env["SITEMAPS_ALLOW_PRIVATE_HOSTS"] = "1"
            settings.SITEMAPS_ALLOW_PRIVATE_HOSTS = True
            self.stdout.write("Demo sites (paste these into New batch):\n  " + "\n  ".join(demo_sites.hosts))
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR, env=env,
                                   start_new_session=True, preexec_fn=_stop_with_parent)
        # `kill`, `kill -- -PGID` and Ctrl-C all end here, so the worker never outlives the web server.
        signal.signal(signal.SIGTERM, _exit)
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            stop_cluster(cluster)
            if demo_sites:
                demo_sites.close()

    def _use_local_key(self, env):
        """Without SECRET_KEY, this checkout's own random key (created once), for us and the cluster."""
        if settings.SECRET_KEY_SOURCE != "development":
            return
        key = ensure_local_key(settings.SECRET_KEY_FILE)
        settings.SECRET_KEY, settings.SECRET_KEY_SOURCE = key, "file"
        env["SECRET_KEY"] = key
        self.stdout.write(f"Using the local secret key in {settings.SECRET_KEY_FILE} (set SECRET_KEY to choose one).")


def stop_cluster(cluster):
    """SIGTERM to the cluster's main process, then SIGKILL to its group if it lingers."""
    if cluster.poll() is None:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(CLUSTER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(cluster.pid, signal.SIGKILL)  # whatever is left: the sentinel's workers included
    except ProcessLookupError:
        pass
    cluster.wait()


def _exit(signum, frame):
    sys.exit(0)


def _stop_with_parent():
    """In the cluster's process, before exec: a SIGTERM when this command dies without its
    `finally` (SIGKILL), so no cluster is left behind. Linux only; elsewhere a no-op."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
