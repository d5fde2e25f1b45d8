"""export_urls ends as a Unix tool does: a closed pipe quietly, a bad path in one line."""

import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests import cluster
from tests.factories import make_batch

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reader_that_stops_early_ends_the_export_quietly(owner):
    batch = make_batch(owner, domains=2, urls_per_domain=5000)  # far more than a pipe buffer holds
    process = subprocess.Popen(
        [sys.executable, "manage.py", "export_urls", str(batch.pk)], cwd=cluster.ROOT,
        env={"DATABASE_URL": cluster.test_database_url(), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout.readline() == b"domain,sitemap_url,loc,lastmod,changefreq,priority,extras\n"
    process.stdout.close()  # what `| head -1` does
    assert process.wait(60) == 141
    assert process.stderr.read() == b""


def test_an_output_path_that_cannot_be_written_is_one_line(owner, tmp_path):
    batch = make_batch(owner)
    target = tmp_path / "missing-dir" / "x.csv"
    with pytest.raises(CommandError) as failed:
        call_command("export_urls", str(batch.pk), "--output", str(target), stdout=io.StringIO())
    assert str(failed.value) == f"cannot write {target}: No such file or directory"
