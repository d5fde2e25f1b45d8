"""The worker's crawl threads: reused from one domain to the next, never more than ran at once."""

import threading
import time

from batches.worker import CrawlThreads


def wait_idle(threads, count):
    give_up = time.monotonic() + 5
    while threads.idle != count and time.monotonic() < give_up:
        time.sleep(0.01)
    return threads.idle


def test_it_runs_crawls_one_after_another_on_as_many_daemon_threads_as_ran_at_once():
    threads = CrawlThreads()
    ran, seen, done = [], set(), threading.Semaphore(0)
    release = threading.Event()

    def crawl(number, wait):
        if wait:
            release.wait(5)
        ran.append(number)
        seen.add((threading.current_thread().name, threading.current_thread().daemon, threading.get_ident()))
        done.release()

    threads.run(crawl, 1, True)
    threads.run(crawl, 2, True)  # the first is still busy: a second thread
    release.set()
    for _ in range(2):
        assert done.acquire(timeout=5)
    for number in range(3, 13):  # one at a time: an idle thread takes each
        assert wait_idle(threads, 2) == 2
        threads.run(crawl, number, False)
        assert done.acquire(timeout=5)

    assert sorted(ran) == list(range(1, 13))
    assert len(seen) == 2 and all(name == "crawl" and daemon for name, daemon, _ in seen)
