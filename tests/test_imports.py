"""The code flows one way: the web process never loads the engine or the worker."""

import subprocess
import sys

from tests.cluster import ROOT

WEB_PROCESS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "sitemapadmin.settings"
import django
django.setup()
import sitemapadmin.urls, batches.admin, batches.api, batches.services, batches.queue
print(sorted(m for m in sys.modules if m.startswith(("batches.sitemaps", "batches.worker", "batches.tasks",
                                                      "lxml", "requests"))))
"""


def test_it_serves_pages_and_enqueues_without_importing_the_engine():
    loaded = subprocess.run([sys.executable, "-c", WEB_PROCESS], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"


def test_the_queue_module_imports_only_models_and_django_q():
    source = (ROOT / "batches" / "queue.py").read_text()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("from ", "import "))}
    assert imports == {"threading", "contextlib", "django.conf", "django.db", "django_q.conf", "django_q.tasks",
                       ".models"}
