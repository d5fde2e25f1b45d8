"""Import a file of 1,000,000 domains with `import_domains` on PostgreSQL; print time and peak memory.

    DATABASE_URL is not used: a database of its own is created, migrated and dropped.
    .venv/bin/python bench/import_1m.py [--lines 1000000]
"""

import argparse
import json
import resource
import subprocess
import tempfile
from pathlib import Path

from common import Timer, bench_database, manage


def write_domains(path, lines):
    with open(path, "w") as out:
        for number in range(lines):
            out.write(f"site{number}.example.com\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_database() as url:
        path = Path(tmp) / "domains.txt"
        write_domains(path, args.lines)
        with Timer() as timer:
            done = manage(url, "import_domains", str(path), "--name", "bench", "--json",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"import_domains: {args.lines:,} lines -> {summary['domains']:,} domains in "
              f"{timer.seconds:.1f} s ({args.lines / timer.seconds:,.0f} lines/s), "
              f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
