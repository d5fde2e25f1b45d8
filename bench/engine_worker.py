"""Runs in the app's virtualenv: one domain through batches.worker.process_domain, the
same path a django-q2 worker takes (discover, fetch, parse, store), into a fresh database;
with --no-store, the engine alone (discover, fetch, parse), which is what USP does.

    DATABASE_URL=... python bench/engine_worker.py 127.0.0.1:8765
    python bench/engine_worker.py 127.0.0.1:8765 --no-store
"""

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemapadmin.settings")
os.environ["SITEMAPS_ALLOW_PRIVATE_HOSTS"] = "1"  # the benchmark site is on loopback
# Politeness stays on (two requests at once per host) but without the pause between request
# starts, which measures a policy, not the engine.
os.environ.setdefault("SITEMAPS_HOST_DELAY", "0")


def crawl_only(host):
    """discover + fetch + parse, nothing stored: the same job USP does."""
    from batches.sitemaps import CrawlConfig, UrlChunk, crawl_domain

    locs = 0
    started = time.perf_counter()
    for event in crawl_domain(host, CrawlConfig(allow_private_hosts=True), scheme="http"):
        if isinstance(event, UrlChunk):
            locs += len(event.urls)
    print(json.dumps({"urls": locs, "seconds": time.perf_counter() - started, "error": event.error}))


def main(host):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.conf import settings
    from django.core.management import call_command

    from batches import worker as processing
    from batches.models import Batch, Domain
    from batches.worker import process_domain

    # on/off overrides SITEMAPS_PARSE_AHEAD for one run (bench/engine_vs_usp.py's /ahead, /serial).
    choice = os.environ.get("BENCH_PARSE_AHEAD", "settings")
    configured = processing.crawl_config
    parse_ahead = settings.SITEMAPS_PARSE_AHEAD if choice == "settings" else choice == "on"
    processing.crawl_config = lambda: replace(configured(), parse_ahead=parse_ahead)

    call_command("migrate", verbosity=0)
    from batches.heap import freeze_loaded

    freeze_loaded()  # as qcluster and import_domains --sync do before they store
    owner, _ = get_user_model().objects.get_or_create(username="bench")
    batch = Batch.objects.create(name="bench", owner=owner, domains_total=1)
    domain = Domain.objects.create(batch=batch, entry=host, host=host, scheme="http")
    started = time.perf_counter()
    status = process_domain(domain.pk)
    seconds = time.perf_counter() - started
    domain.refresh_from_db()
    print(json.dumps({
        "urls": domain.urls_count, "seconds": seconds, "status": str(status),
        "sitemaps": domain.sitemaps_count, "error": domain.error,
        "stored": domain.urls.count(), "parse_ahead": parse_ahead, "db_cpu": database_cpu_seconds(),
    }))


def database_cpu_seconds():
    """CPU seconds the PostgreSQL backend of this connection used (a server on this machine)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    if sys.argv[2:] == ["--no-store"]:
        crawl_only(sys.argv[1])
    else:
        main(sys.argv[1])
