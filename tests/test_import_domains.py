"""import_domains from a user's seat: progress that reads as progress, CSV files, local hosts, huge lines."""

import io
import json
import subprocess
import sys

import pytest
from django.core.management import call_command

from batches import progress
from batches.models import Batch
from tests import cluster
from tests.sites import urlset

pytestmark = pytest.mark.django_db(transaction=True)
CLOSED_PORT_HOST = "127.0.0.1:9"  # discard port, nothing listens: the domain fails, connection refused


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(*args, stderr=None, **options):
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    call_command("import_domains", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def good_site(site):
    site.add("/sitemap.xml", urlset([site.url("/a"), site.url("/b")]))
    return site


@pytest.fixture
def one_good_one_failing(tmp_path, good_site):
    path = tmp_path / "d.txt"
    path.write_text(f"{good_site.host}\n{CLOSED_PORT_HOST}\n")
    return path


def test_on_a_terminal_the_bar_is_plain_and_counts_failed_domains(one_good_one_failing, staff):
    _, err = run(str(one_good_one_failing), "--sync", stderr=Terminal(), force_color=True)
    assert "\x1b[31" not in err  # not Django's bold-red error style
    assert "2 valid, 0 duplicate, 0 invalid" in err
    assert "2/2" in err and "1 failed" in err


def test_off_a_terminal_it_prints_plain_progress_lines(one_good_one_failing, staff, monkeypatch):
    monkeypatch.setattr(progress.Progress, "LINE_SECONDS", 0)
    _, err = run(str(one_good_one_failing), "--sync")
    batch = Batch.objects.get()
    lines = [line for line in err.splitlines() if line.startswith(f"batch {batch.pk}:")]
    assert lines[0].startswith(f"batch {batch.pk}: 1/2 domains finished, ")
    assert lines[-1] == f"batch {batch.pk}: 2/2 domains finished, 1 failed"


def test_it_prints_a_progress_line_only_every_few_seconds(tmp_path, good_site, staff):
    path = tmp_path / "d.txt"
    path.write_text(good_site.host + "\n" + "".join(f"127.0.0.{n}:9\n" for n in range(1, 5)))
    _, err = run(str(path), "--sync")
    batch = Batch.objects.get()
    # five domains end within a second: the first prints at once, then only the end does
    lines = [line for line in err.splitlines() if line.startswith("batch ")]
    assert (len(lines), lines[-1]) == (2, f"batch {batch.pk}: 5/5 domains finished, 4 failed")


def test_a_refused_local_host_says_how_to_allow_it_and_fail_on_error_exits_3(tmp_path, good_site, staff, settings):
    settings.SITEMAPS_ALLOW_PRIVATE_HOSTS = False
    path = tmp_path / "d.txt"
    path.write_text(f"{good_site.host}\n")
    with pytest.raises(SystemExit) as stopped:
        run(str(path), "--sync", "--json", "--fail-on-error")
    assert stopped.value.code == 3
    Batch.objects.all().delete()
    out, err = run(str(path), "--sync", "--json")  # without the flag: exit 0, as the contract says
    assert json.loads(out.splitlines()[-1])["domains_failed"] == 1
    assert ("1 failed domain names a loopback or private address, which the address guard refuses; "
            "to crawl local or intranet hosts, set SITEMAPS_ALLOW_PRIVATE_HOSTS=1") in err


def test_fail_on_error_exits_0_when_no_domain_failed(tmp_path, good_site, staff):
    path = tmp_path / "d.txt"
    path.write_text(f"{good_site.host}\n")
    out, err = run(str(path), "--sync", "--json", "--fail-on-error")
    assert json.loads(out.splitlines()[-1])["domains_done"] == 1
    assert "SITEMAPS_ALLOW_PRIVATE_HOSTS" not in err


def test_a_csv_file_is_read_by_its_first_column_and_its_header_is_named(tmp_path, good_site, staff):
    path = tmp_path / "export.csv"
    path.write_text(f'Domain,notes\n{good_site.host},"ours, main"\nb.example.com,x\n"c.example.com",\n',
                    encoding="utf-8")
    _, err = run(str(path))
    assert f"{path}: line 1: header row 'Domain' skipped" in err
    assert "3 valid, 0 duplicate, 0 invalid" in err
    assert sorted(Batch.objects.get().domains.values_list("host", flat=True)) == sorted(
        [good_site.host, "b.example.com", "c.example.com"])


def test_a_csv_field_of_200_kb_is_one_invalid_line(tmp_path, staff):
    path = tmp_path / "big.csv"
    path.write_text("a.example.com\n" + "x" * 200_000 + ",y\nb.example.com\n")
    _, err = run(str(path))
    assert f"{path}: line 2: longer than 2048 characters: " in err
    assert "2 valid, 0 duplicate, 1 invalid" in err


def test_a_line_of_100_mb_is_refused_in_bounded_memory(tmp_path, staff):
    path = tmp_path / "huge.txt"
    with open(path, "w") as stream:
        stream.write("a.example.com\n")
        chunk = "x" * (1 << 20)
        for _ in range(100):
            stream.write(chunk)
        stream.write("\nb.example.com\n")
    # VmHWM, not getrusage: ru_maxrss carries over the high-water mark of the (large) pytest
    # process this child was forked from, across exec.
    script = (
        "import django, re; django.setup();"
        "from django.core.management import call_command;"
        f"call_command('import_domains', {str(path)!r}, '--user', 'staff');"
        "print('peak', int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=cluster.ROOT, capture_output=True, text=True, timeout=120,
                          env={"DJANGO_SETTINGS_MODULE": "sitemapadmin.settings", "DATABASE_URL": cluster.test_database_url(),
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.split("peak ")[1])
    assert "line 2: longer than 2048 characters" in done.stderr
    assert "2 valid, 0 duplicate, 1 invalid" in done.stderr
    assert peak_mb < 120, f"peak RSS {peak_mb} MB"
