"""import_domains on large files: chunked, duplicates across chunks, bounded memory, few queue messages."""

import io
import json
import tracemalloc

import pytest
from django.core.management import call_command
from django_q.models import OrmQ

from batches.models import Batch, Domain

pytestmark = pytest.mark.django_db(transaction=True)


def import_file(path):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_domains", str(path), "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1]), err.getvalue()


def test_duplicates_in_different_chunks_are_stored_once_and_counted(tmp_path, monkeypatch, staff):
    monkeypatch.setattr("batches.services.INSERT_CHUNK", 100)
    path = tmp_path / "domains.txt"
    path.write_text("".join(f"site{i % 250}.example.com\n" for i in range(1000)) + "not valid\n")

    summary, err = import_file(path)

    assert summary["domains"] == 250
    assert "250 valid, 750 duplicate, 1 invalid" in err
    assert f"{path}: line 1001: contains white space: 'not valid'" in err
    assert list(Domain.objects.order_by("position").values_list("host", flat=True)[:3]) == [
        "site0.example.com", "site1.example.com", "site2.example.com"]
    assert Batch.objects.get().name == "site0.example.com, site1.example.com, site2.example.com"


def test_a_large_import_enqueues_only_a_window_and_stays_in_bounded_memory(tmp_path, monkeypatch, settings, staff):
    settings.SITEMAPS_QUEUE_WINDOW = 50
    monkeypatch.setattr("batches.services.INSERT_CHUNK", 5000)
    path = tmp_path / "domains.txt"
    with open(path, "w") as out:
        for i in range(60_000):
            out.write(f"host{i}.example.org\n")

    tracemalloc.start()
    summary, _ = import_file(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert summary["domains"] == 60_000
    # the window: 50 domains in the queue, several to a message
    assert len([pk for message in OrmQ.objects.all() for pk in message.task["args"][0]]) == 50
    # Reading all 60,000 entries at once would take well over 20 MB of Python objects.
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_a_file_with_no_valid_line_creates_no_batch(tmp_path, staff):
    from django.core.management.base import CommandError

    path = tmp_path / "domains.txt"
    path.write_text("# nothing\nbad line\n")
    with pytest.raises(CommandError, match="no valid entry"):
        import_file(path)
    assert not Batch.all_objects.exists()
