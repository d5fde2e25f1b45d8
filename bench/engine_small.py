"""The engine alone on many small domains: CPU per domain, no database.

Each site is bench/scale.py's (robots.txt naming one 100-URL sitemap, every probe a 404, the
same added latency), served from a child process so that only the crawls' CPU is counted. The
crawls run `--in-flight` at a time on threads, as a worker's Crawler runs them.

    .venv/bin/python bench/engine_small.py [--domains 500] [--latency 0.05] [--in-flight 32]
    TREE=/tmp/before .venv/bin/python bench/engine_small.py     # another checkout, side by side
"""

import argparse
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

TREE = Path(os.environ.get("TREE", Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(TREE))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemapadmin.settings")
os.environ["SITEMAPS_ALLOW_PRIVATE_HOSTS"] = "1"
WARM_UP = 64  # domains crawled first and not counted: imports, first connections, thread starts


def _serve(latency, ports):
    import scale

    ports.put(scale.serve(latency).server_address[1])
    time.sleep(3600)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--domains", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--in-flight", type=int, default=32)
    args = parser.parse_args()
    import django

    django.setup()
    import scale
    from batches.sitemaps import CrawlFinished, crawl_domain
    from batches.worker import crawl_config

    ports = multiprocessing.Queue()
    site = multiprocessing.Process(target=_serve, args=(args.latency, ports), daemon=True)
    site.start()
    port = ports.get()
    config = replace(crawl_config(), host_gate=None)

    def crawl(url):
        for event in crawl_domain(url.split("//")[1], config, scheme="http"):
            pass
        return event.urls if isinstance(event, CrawlFinished) else -1

    urls = scale.hosts(args.domains + WARM_UP, port)
    with ThreadPoolExecutor(args.in_flight) as pool:
        list(pool.map(crawl, urls[:WARM_UP]))
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        found = list(pool.map(crawl, urls[WARM_UP:]))
        after, seconds = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    site.terminate()
    if found != [scale.URLS_PER_SITEMAP] * args.domains:
        raise SystemExit(f"some crawls missed URLs: {sorted(set(found))}")
    user, system = ((after.ru_utime - before.ru_utime) * 1000 / args.domains,
                    (after.ru_stime - before.ru_stime) * 1000 / args.domains)
    print(f"engine alone: {args.domains} domains, {args.in_flight} in flight, in {seconds:.1f} s; CPU "
          f"{user + system:.2f} ms/domain (user {user:.2f}, system {system:.2f})  [{TREE}]")


if __name__ == "__main__":
    main()
