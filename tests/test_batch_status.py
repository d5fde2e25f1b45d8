"""batch_status BATCH_ID [--json] [--wait], per its contract."""

import io
import json
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from batches.entries import parse_text
from batches.models import Batch, BatchStatus, Domain, DomainStatus
from batches.services import create_batch

pytestmark = pytest.mark.django_db(transaction=True)


def status(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("batch_status", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def batch(owner):
    with transaction.atomic():
        return create_batch(owner, "nightly", parse_text("a.example\nb.example").entries, enqueue=False)


def test_json_ends_stdout_with_the_same_keys_as_import_domains(batch):
    out, _ = status(str(batch.pk), "--json")
    assert out.splitlines()[0] == f"Batch {batch.pk}: pending, 2 domains (0 failed), 0 sitemaps, 0 URLs"
    assert json.loads(out.strip().splitlines()[-1]) == {
        "batch_id": batch.pk, "name": "nightly", "status": "pending", "domains": 2, "domains_done": 0,
        "domains_failed": 0, "domains_cancelled": 0, "sitemaps": 0, "urls": 0, "progress": 0,
    }


def test_an_unknown_batch_is_an_error():
    with pytest.raises(CommandError, match="no batch with id 999999"):
        status("999999")


def test_wait_blocks_until_the_batch_has_finished(batch, monkeypatch):
    monkeypatch.setattr("batches.progress.POLL_SECONDS", 0.1)

    def finish_later():
        time.sleep(0.5)
        Domain.objects.update(status=DomainStatus.DONE)
        Batch.objects.filter(pk=batch.pk).update(domains_done=2)
        Batch.finish_if_complete(batch.pk)
        connection.close()

    worker = threading.Thread(target=finish_later)
    worker.start()
    started = time.monotonic()
    out, _ = status(str(batch.pk), "--wait", "--json")
    worker.join()

    assert time.monotonic() - started >= 0.4
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["status"], summary["domains_done"], summary["progress"]) == (BatchStatus.COMPLETED, 2, 100)


def test_the_command_exits_non_zero_for_an_unknown_id(tmp_path):
    import subprocess
    import sys

    from tests.cluster import ROOT, test_database_url

    connection.close()
    done = subprocess.run([sys.executable, "manage.py", "batch_status", "424242"], cwd=ROOT,
                          env={**__import__("os").environ, "DATABASE_URL": test_database_url()},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "no batch with id 424242" in done.stderr


def test_wait_returns_at_once_for_a_batch_with_no_domain(owner):
    empty = Batch.objects.create(owner=owner, name="empty")  # as the admin's old "Add batch" made them
    finished = threading.Event()

    def wait():
        status(str(empty.pk), "--wait")
        finished.set()
        connection.close()

    threading.Thread(target=wait, daemon=True).start()
    assert finished.wait(10)
