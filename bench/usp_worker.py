"""Runs in .bench/venv only: ultimate-sitemap-parser (GPL) reads the benchmark site.

Never imported by the app or the tests; the driver runs it as a separate process and reads
one JSON line from it.
"""

import json
import logging
import sys
import time

from usp.tree import sitemap_tree_for_homepage


def main(homepage):
    logging.disable(logging.CRITICAL)  # its per-sitemap INFO logging is not what we measure
    started = time.perf_counter()
    tree = sitemap_tree_for_homepage(homepage)
    locs = {page.url for page in tree.all_pages()}
    seconds = time.perf_counter() - started
    print(json.dumps({"urls": len(locs), "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1])
