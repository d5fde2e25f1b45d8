"""The parser alone: one 50,000-URL urlset of the benchmark site (bench/site.py) read by
SitemapReader in 64 KiB chunks, in this process. Prints microseconds per URL (median of
--repeat); `--repeat 0` only loads, so that instructions can be counted without the loading:

    .venv/bin/python bench/parse.py --repeat 7
    valgrind --tool=callgrind .venv/bin/python bench/parse.py --repeat 1   # minus --repeat 0
"""

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from batches.sitemaps.parse import SitemapReader  # noqa: E402

CHUNK = 64 * 1024
ORIGIN = "http://127.0.0.1:8775"


def site_module():
    # bench/site.py by its path: the name "site" is the standard library's, loaded at startup
    spec = importlib.util.spec_from_file_location("bench_site", ROOT / "bench" / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(body):
    reader = SitemapReader(url=f"{ORIGIN}/sitemap-1.xml")
    urls = 0
    for start in range(0, len(body), CHUNK):
        urls += len(reader.feed(body[start:start + CHUNK]))
    return urls + len(reader.close())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    body = (site_module().generate(20) / "sitemap-1.xml").read_text().replace("{origin}", ORIGIN).encode()
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        urls = read(body)
        seconds.append(time.perf_counter() - started)
    if seconds:
        print(f"{urls:,} URLs: median {statistics.median(seconds) / urls * 1e6:.2f} µs a URL, "
              f"best {min(seconds) / urls * 1e6:.2f}")


if __name__ == "__main__":
    main()
