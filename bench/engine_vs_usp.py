"""This engine against ultimate-sitemap-parser (USP) on the same local site, side by side.

The site (bench/site.py): robots.txt -> an index -> N gzipped urlsets of 50,000 URLs each with
lastmod, changefreq and priority, served from 127.0.0.1 by a separate process. Each contender
runs in a fresh process of its own, in turn, `--repeat` times per site size:

- usp:      discover + fetch + parse (its own virtualenv, .bench/venv; GPL, never imported here)
- engine:   discover + fetch + parse with this engine, nothing stored (the same job as usp)
- postgres: discover + fetch + parse + store, through batches.worker.process_domain
- sqlite:   the same into an SQLite file

A worker contender may name a variant: `postgres/serial` or `postgres/ahead` forces
CrawlConfig.parse_ahead off or on (otherwise SITEMAPS_PARSE_AHEAD decides), and
`postgres@before` runs the worker of another checkout given by `--compare before=PATH` (for
before/after figures measured side by side, under the same load).

Printed per size: the median seconds, URLs/s, how many times faster than USP, and the peak
RSS of each worker process (ru_maxrss from wait4), plus the load average seen during the run.

    make bench
    .venv/bin/python bench/engine_vs_usp.py --sizes 5,20 --repeat 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_PYTHON = ROOT / ".venv" / "bin" / "python"
USP_PYTHON = ROOT / ".bench" / "venv" / "bin" / "python"
SQLITE_FILE = ROOT / ".bench" / "bench.sqlite3"
CONTENDERS = ("usp", "engine", "postgres", "sqlite")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5,20", help="urlsets of 50,000 URLs per site, comma separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/sitemapadmin_bench")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH",
                        help="another checkout whose worker runs as contender postgres@LABEL / sqlite@LABEL")
    args = parser.parse_args()
    contenders = [name for name in args.contenders.split(",") if name]
    args.checkouts = dict(item.split("=", 1) for item in args.compare)
    results = {}
    loads = [os.getloadavg()[0]]
    for files in (int(size) for size in args.sizes.split(",")):
        server = start_site(files, args.port)
        try:
            for run in range(args.repeat):
                for name in contenders:
                    outcome = run_contender(name, args)
                    loads.append(os.getloadavg()[0])
                    results.setdefault((files, name), []).append(outcome)
                    print(f"  {files * 50_000:>9,} URLs  {name:<16} run {run + 1}: {outcome['seconds']:6.2f} s  "
                          f"{outcome['urls']:,} URLs  peak RSS {outcome['rss_mb']:.0f} MB  CPU {outcome['cpu']:.1f} s "
                          f"(database {outcome.get('db_cpu', 0):.1f} s)",
                          flush=True)
        finally:
            server.terminate()
            server.wait()
    report(results, contenders, loads)


def start_site(files, port):
    subprocess.run([str(APP_PYTHON), str(ROOT / "bench" / "site.py"), "generate", "--files", str(files)],
                   check=True, stdout=subprocess.DEVNULL)
    server = subprocess.Popen(
        [str(APP_PYTHON), str(ROOT / "bench" / "site.py"), "serve", "--files", str(files), "--port", str(port)],
        stdout=subprocess.PIPE, text=True,
    )
    if server.stdout.readline().strip() != "ready":
        server.kill()
        sys.exit("the benchmark site did not start")
    return server


def run_contender(name, args):
    host = f"127.0.0.1:{args.port}"
    kind, _, mode = name.partition("/")
    kind, _, label = kind.partition("@")
    root = Path(args.checkouts[label]) if label else ROOT
    env = dict(os.environ, BENCH_PARSE_AHEAD={"ahead": "on", "serial": "off"}.get(mode, "settings"))
    if kind == "usp":
        command = [str(USP_PYTHON), str(ROOT / "bench" / "usp_worker.py"), f"http://{host}/"]
    elif kind == "engine":
        command = [str(APP_PYTHON), str(root / "bench" / "engine_worker.py"), host, "--no-store"]
    else:
        env["DATABASE_URL"] = fresh_database(kind, args.postgres)
        subprocess.run([str(APP_PYTHON), str(root / "manage.py"), "migrate", "-v0"], check=True, env=env)
        command = [str(APP_PYTHON), str(root / "bench" / "engine_worker.py"), host]
    return measure(command, env)


def fresh_database(name, postgres_url):
    if name == "sqlite":
        for path in SQLITE_FILE.parent.glob(SQLITE_FILE.name + "*"):
            path.unlink()
        return f"sqlite:///{SQLITE_FILE}"
    import psycopg

    server_url, _, database = postgres_url.rpartition("/")
    with psycopg.connect(server_url + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    return postgres_url


def measure(command, env):
    """Run one worker; its JSON line plus its peak RSS (the kernel's high-water mark)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{command[1]} failed with exit status {process.returncode}")
    outcome = json.loads(output.strip().splitlines()[-1])
    outcome["rss_mb"] = usage.ru_maxrss / 1024
    # CPU seconds of the worker and of its database backend: steadier than wall time on a busy machine.
    outcome["cpu"] = usage.ru_utime + usage.ru_stime + outcome.get("db_cpu", 0.0)
    return outcome


def report(results, contenders, loads):
    print()
    print(f"{'site':>11}  {'contender':<16} {'median s':>9} {'URLs/s':>10} {'vs USP':>7} {'peak RSS':>9} "
          f"{'CPU s':>7}  runs (s)")
    for files in sorted({files for files, _ in results}):
        usp = results.get((files, "usp"))
        usp_median = statistics.median(o["seconds"] for o in usp) if usp else None
        for name in contenders:
            outcomes = results[(files, name)]
            median = statistics.median(o["seconds"] for o in outcomes)
            urls = outcomes[0]["urls"]
            ratio = f"{usp_median / median:.1f}x" if usp_median else "-"
            rss = max(o["rss_mb"] for o in outcomes)
            runs = " ".join(f"{o['seconds']:.1f}" for o in outcomes)
            cpu = statistics.median(o["cpu"] for o in outcomes)
            print(f"{files * 50_000:>11,}  {name:<16} {median:>9.2f} {urls / median:>10,.0f} {ratio:>7} "
                  f"{rss:>6.0f} MB {cpu:>7.1f}  {runs}")
    print(f"\nload average (1 min) during the run: min {min(loads):.2f}, median {statistics.median(loads):.2f}, "
          f"max {max(loads):.2f} on {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M %Z')}")


if __name__ == "__main__":
    main()
