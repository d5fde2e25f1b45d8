"""The baseline bench/scale.py compares against: a plain 8-thread requests + lxml script.

Reads origins from stdin; for each, GETs robots.txt, then every sitemap it names, and counts
the <loc> elements. Prints "seconds urls".

    python bench/scale_script.py 8 < origins.txt
"""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from lxml import etree

LOC = "{http://www.sitemaps.org/schemas/sitemap/0.9}loc"
local = threading.local()


def fetch(origin):
    session = getattr(local, "session", None) or requests.Session()
    local.session = session
    robots = session.get(origin + "/robots.txt", timeout=30)
    found = 0
    for line in robots.text.splitlines():
        if line.lower().startswith("sitemap:"):
            body = session.get(line.split(":", 1)[1].strip(), timeout=30).content
            found += sum(1 for _ in etree.fromstring(body).iter(LOC))
    return found


def main(threads):
    origins = [line.strip() for line in sys.stdin if line.strip()]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        urls = sum(pool.map(fetch, origins))
    print(f"{time.perf_counter() - started:.2f} {urls}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
