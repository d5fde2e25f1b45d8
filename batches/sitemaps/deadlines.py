"""One thread for every request deadline of the process.

Each request has a wall-clock deadline (fetch._Watch). A `threading.Timer` per request started
and stopped an OS thread per request, which cost more CPU than parsing a small sitemap; here one
daemon thread sleeps until the nearest deadline of a heap and calls what is due.
"""

import heapq
import itertools
import os
import threading
import time

COMPACT_AT = 4096  # cancelled entries are dropped from the heap once it holds this many


class Deadline:
    """A callback for the watchdog; `cancel` it before it is due and it never runs."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback):
        self.callback = callback
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


class Watchdog:
    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked worker starts its own thread

    def _reset(self):
        self._wake = threading.Condition(threading.Lock())
        self._heap = []  # (due, sequence, Deadline)
        self._sequence = itertools.count()
        self._thread = None

    def call_at(self, due, callback):
        """Call `callback()` on the watchdog's thread at monotonic time `due`; returns its Deadline."""
        deadline = Deadline(callback)
        with self._wake:
            if len(self._heap) >= COMPACT_AT:
                self._compact()
            heapq.heappush(self._heap, (due, next(self._sequence), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="request-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._wake.notify()  # sooner than what the thread sleeps towards
        return deadline

    def _compact(self):
        self._heap = [entry for entry in self._heap if not entry[2].cancelled]
        heapq.heapify(self._heap)

    def _run(self):
        while True:
            for deadline in self._next_due():
                try:
                    deadline.callback()
                except Exception:  # one broken callback must not stop every other deadline
                    pass

    def _next_due(self):
        """Wait for the nearest deadline; the ones that are due (the caller calls them unlocked)."""
        with self._wake:
            while True:
                now = time.monotonic()
                due = []
                while self._heap and (self._heap[0][0] <= now or self._heap[0][2].cancelled):
                    deadline = heapq.heappop(self._heap)[2]
                    if not deadline.cancelled:
                        due.append(deadline)
                if due:
                    return due
                self._wake.wait(self._heap[0][0] - now if self._heap else None)


watchdog = Watchdog()
