import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and one qcluster worker together (what `make run` starts)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--demo", action="store_true",
                            help="also serve demo sitemap sites on 127.0.0.1 and allow fetching them")

    def handle(self, addrport, demo, **options):
        env = dict(os.environ)
        demo_sites = None
        if demo:
            from batches.demo.sites import start_demo_sites

            demo_sites = start_demo_sites()
            env["SITEMAPS_ALLOW_PRIVATE_HOSTS"] = "1"
            settings.SITEMAPS_ALLOW_PRIVATE_HOSTS = True
            self.stdout.write("Demo sites (paste these into New batch):\n  " + "\n  ".join(demo_sites.hosts))
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR, env=env)
        # `kill` and Ctrl-C both end here, so the worker never outlives the web server.
        signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            cluster.terminate()
            try:
                cluster.wait(15)
            except subprocess.TimeoutExpired:
                cluster.kill()
            if demo_sites:
                demo_sites.close()
