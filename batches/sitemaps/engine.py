"""One domain's crawl: find the origin, discover sitemaps, read them concurrently, stream records.

`crawl_domain` is a generator. A small thread pool downloads sitemaps (network latency is what
threads hide) and passes their decompressed bytes through one bounded queue to the caller's
thread, which parses them (push parsers, one per sitemap, so downloads interleave freely) and
stores what they yield. Parsing stays on one thread on purpose: on two cores, several threads
parsing under the GIL are slower than one, and they starve the thread that writes to the
database (with CrawlConfig.parse_ahead, a helper parses while the caller is busy storing, but
never at the same time as the caller's thread). Memory is bounded by the queue (chunks of at
most a few hundred KiB) plus one pending UrlChunk per sitemap being read.
"""

import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from .discover import home_page_sitemaps, robots_sitemaps, well_known_urls
from .fetch import Blocked, BodyError, CannotConnect, Fetcher, FetchError
from .identity import normal_form
from .parse import Kind, SitemapReader
from .records import CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk

QUEUE_SIZE = 32  # body chunks in flight (each at most fetch.PIECE_SIZE bytes)
READY_CHUNKS = 2  # UrlChunks parsed ahead of the caller, at most


@dataclass
class _Job:
    key: int
    url: str
    parent_key: int | None
    found_by: str
    depth: int
    lastmod: object = None
    started: bool = False

    @property
    def is_probe(self):
        # A well-known path is a guess: a miss is silence, not an error.
        return self.found_by == "well_known"


@dataclass
class _Outcome:
    """A sitemap that ended without a body to parse; `finished` None: nothing to record."""

    job: _Job
    finished: SitemapFinished | None


@dataclass
class _Body:
    """A sitemap's body begins: its chunks follow as _Data, then one _BodyEnd."""

    job: _Job
    finished: SitemapFinished
    final_url: str


@dataclass
class _Data:
    job: _Job
    data: bytes


@dataclass
class _BodyEnd:
    job: _Job
    error: str
    bytes_read: int
    compressed: bool


class _Abandoned(Exception):
    pass


class _Reading:
    """The caller's state for one sitemap whose body is arriving."""

    def __init__(self, body):
        self.job = body.job
        self.finished = body.finished
        self.reader = SitemapReader(url=body.final_url)
        self.chunk = []
        self.children = []


def crawl_domain(host, config, scheme=""):
    """Yield SitemapStarted / UrlChunk / SitemapFinished events, then one CrawlFinished.

    `host` is a lower-case host name with an optional port; an empty `scheme` tries https,
    then http, then the www. host. Closing the generator stops the crawl promptly.
    """
    crawl = _Crawl(host, scheme, config)
    try:
        if config.parse_ahead:
            yield from crawl._handing_over(crawl.run())
        else:
            yield from crawl.run()
    finally:
        crawl.stop()


class _Crawl:
    def __init__(self, host, scheme, config):
        self.host = host
        self.scheme = scheme
        self.config = config
        self.fetcher = Fetcher(config)
        self.deadline = time.monotonic() + config.domain_deadline
        self.events = queue.Queue(QUEUE_SIZE)
        self.stopping = threading.Event()
        self.abandoned = threading.Event()  # the caller is gone: pool threads drop everything
        self.stop_reason = ""
        self.pool = ThreadPoolExecutor(max_workers=max(1, config.concurrency), thread_name_prefix="sitemap")
        self.seen = set()  # every sitemap URL scheduled (the caller's thread only)
        self.final_urls = set()  # where those URLs ended up after redirects (pool threads)
        self.final_lock = threading.Lock()
        self.next_key = 0
        self.pending = 0
        self.first_error = ""
        self.reading = {}  # job key -> _Reading, for bodies being parsed
        self.ready = deque()  # events parsed ahead, waiting for the caller
        self.turn = threading.Lock()  # held by whichever thread may parse
        self.caller_busy = threading.Event()
        self.result = CrawlFinished()

    def stop(self):
        self.abandoned.set()
        self.stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.fetcher.close()

    # --- the caller's thread ----------------------------------------------------
    def run(self):
        origin, robots_body, error = self._find_origin()
        if origin is None:
            self.result.error = error
            yield self.result
            return
        self.result.origin = origin
        listed = robots_sitemaps(robots_body, origin + "/robots.txt") if robots_body else []
        for url in listed:
            self._schedule(url, None, "robots", 0)
        if not listed:
            for url in self._home_page_links(origin):
                self._schedule(url, None, "home_page", 0)
        if self.config.probe_well_known:
            for url in well_known_urls(origin):
                self._schedule(url, None, "well_known", 0)
        yield from self._drain()
        if self.result.sitemaps and self.result.sitemaps == self.result.sitemaps_failed and not self.result.urls:
            self.result.error = "no sitemap could be read: " + self.first_error
        yield self.result

    def _drain(self):
        while self.pending or self.ready:
            if self.ready:
                yield self.ready.popleft()
                continue
            try:
                item = self.events.get(timeout=0.5)
            except queue.Empty:
                self._check_deadline()
                continue
            yield from self._dispatch(item)

    def _dispatch(self, item):
        if isinstance(item, _Data):
            yield from self._parse(item)
        elif isinstance(item, _Body):
            self.reading[item.job.key] = _Reading(item)
        elif isinstance(item, _BodyEnd):
            yield from self._end_body(item)
        else:
            yield from self._record_outcome(item.job, item.finished)
        self._check_deadline()

    # --- parsing ahead while the caller stores (CrawlConfig.parse_ahead) -----------
    # The caller's thread gives the parse state (the "turn") to a helper thread for as long
    # as the caller is busy with an event, and takes it back before going on: one thread at
    # a time parses, and what the helper produces waits in `ready`, in order.
    def _handing_over(self, events):
        helper = threading.Thread(target=self._parse_ahead, name="sitemap-parse-ahead", daemon=True)
        self.turn.acquire()
        helper.start()
        try:
            for event in events:
                self.caller_busy.set()
                self.turn.release()
                yield event
                self.caller_busy.clear()
                self.turn.acquire()
        finally:
            self.abandoned.set()
            self.caller_busy.clear()
            if self.turn.locked():
                self.turn.release()

    def _parse_ahead(self):
        while not self.abandoned.is_set():
            if not self.caller_busy.wait(0.5):
                continue
            if not self._parse_one_ahead():
                time.sleep(0.005)

    def _parse_one_ahead(self):
        """Dispatch one queued item for the busy caller; False when there was nothing to do."""
        with self.turn:
            if not self.caller_busy.is_set() or self.abandoned.is_set():
                return False
            if sum(isinstance(event, UrlChunk) for event in self.ready) >= READY_CHUNKS:
                return False  # far enough ahead: memory, not speed, is at stake now
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                return False
            self.ready.extend(self._dispatch(item))
            return True

    def _parse(self, item):
        reading = self.reading[item.job.key]
        records = reading.reader.feed(item.data)
        if records:
            yield from self._take(reading, records)

    def _take(self, reading, records):
        if not reading.job.started:
            yield self._start(reading.job)
        if reading.reader.kind == Kind.INDEX:
            for child in records:
                self._schedule(child.url, reading.job.key, "index", reading.job.depth + 1, child.lastmod)
            return
        reading.finished.url_count += len(records)
        reading.chunk.extend(records)
        if len(reading.chunk) >= self.config.chunk_size:
            chunk, reading.chunk = reading.chunk, []
            yield from self._count_urls(UrlChunk(reading.job.key, chunk))

    def _end_body(self, end):
        reading = self.reading.pop(end.job.key)
        reader = reading.reader
        records = reader.stop(end.error) if end.error else reader.close()
        if records:
            yield from self._take(reading, records)
        if reading.chunk:
            yield from self._count_urls(UrlChunk(reading.job.key, reading.chunk))
        finished = reading.finished
        finished.kind, finished.skipped, finished.generator = reader.kind, reader.skipped, reader.generator
        finished.error, finished.bytes, finished.compressed = reader.error, end.bytes_read, end.compressed
        if end.job.is_probe and not end.job.started and reader.kind == Kind.NOT_SITEMAP:
            finished = None  # a soft 404 or some other page at a guessed path
        yield from self._record_outcome(end.job, finished)

    def _record_outcome(self, job, finished):
        self.pending -= 1
        if finished is None:
            return
        if not job.started:
            yield self._start(job)
        failed = bool(finished.error) and finished.url_count == 0 and finished.kind != Kind.INDEX
        self.result.sitemaps += 1
        self.result.sitemaps_failed += int(failed)
        self.result.skipped += finished.skipped
        if finished.error and not self.first_error:
            self.first_error = finished.error
        yield finished

    def _start(self, job):
        job.started = True
        return SitemapStarted(job.key, job.url, job.parent_key, job.found_by, job.lastmod)

    def _count_urls(self, chunk):
        room = self.config.max_urls - self.result.urls
        if room <= 0:
            return
        if len(chunk.urls) >= room:
            chunk.urls = chunk.urls[:room]
            self._stop(f"stopped at the limit of {self.config.max_urls:,} URLs per domain")
        self.result.urls += len(chunk.urls)
        yield chunk

    def _check_deadline(self):
        if time.monotonic() > self.deadline and not self.stopping.is_set():
            self._stop(f"stopped at the domain time limit of {self.config.domain_deadline:g} s")

    def _stop(self, reason):
        self.stop_reason = self.stop_reason or reason
        self._note(reason)
        self.stopping.set()

    def _note(self, text):
        if text not in self.result.notes:
            self.result.notes.append(text)

    def _schedule(self, url, parent_key, found_by, depth, lastmod=None):
        if url in self.seen or self.stopping.is_set():
            return
        if depth > self.config.max_depth:
            self._note(f"sitemap indexes nested deeper than {self.config.max_depth} levels were not followed")
            return
        if len(self.seen) >= self.config.max_sitemaps:
            self._note(f"stopped at the limit of {self.config.max_sitemaps:,} sitemaps per domain")
            return
        self.seen.add(url)
        self.next_key += 1
        job = _Job(self.next_key, url, parent_key, found_by, depth, lastmod)
        self.pending += 1
        if self._index_lastmod_unchanged(job):
            # Not fetched at all: the caller keeps the previous run's URLs of this child.
            self.ready.extend(self._record_outcome(job, SitemapFinished(job.key, unchanged=True)))
            return
        self.pool.submit(self._fetch_job, job)

    def _index_lastmod_unchanged(self, job):
        if not (self.config.trust_index_lastmod and job.found_by == "index" and job.lastmod):
            return False
        previous = self.config.previous.get(normal_form(job.url))
        return previous is not None and previous.lastmod == job.lastmod

    def _conditional_headers(self, url):
        previous = self.config.previous.get(normal_form(url))
        headers = {}
        if previous and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        return headers or None

    def _find_origin(self):
        """(origin, robots.txt bytes, error): the first candidate origin that answers at all."""
        errors = []
        for origin in self._candidate_origins():
            try:
                response = self.fetcher.get(origin + "/robots.txt", self.config.max_robots_bytes, self.deadline)
            except (CannotConnect, Blocked) as exc:
                errors.append(f"{origin}: {exc}")
                continue
            except FetchError:
                return origin, b"", ""  # it answered, if badly (a redirect loop, a stall): read its sitemaps
            with response:
                final = urlsplit(response.url)
                answered = f"{final.scheme}://{final.netloc}" if final.netloc.lower() == urlsplit(origin).netloc else origin
                body = _read_capped(response.body, self.config.max_robots_bytes) if response.ok else b""
            return answered, body, ""
        return None, b"", "; ".join(errors) or "no origin to try"

    def _candidate_origins(self):
        schemes = [self.scheme] if self.scheme else ["https", "http"]
        hosts = [self.host]
        bare = self.host.split(":")[0]
        if not bare.startswith("www.") and not bare.replace(".", "").isdigit() and not bare.startswith("["):
            hosts.append("www." + self.host)
        return [f"{s}://{h}" for h in hosts for s in schemes]

    def _home_page_links(self, origin):
        try:
            response = self.fetcher.get(origin + "/", self.config.max_home_page_bytes, self.deadline)
        except FetchError:
            return []
        with response:
            if not response.ok:
                return []
            return home_page_sitemaps(_read_capped(response.body, self.config.max_home_page_bytes), response.url)

    # --- pool threads: download only ---------------------------------------------------
    def _put(self, item):
        # Blocks while the caller is behind; that is the back pressure that bounds memory.
        while not self.abandoned.is_set():
            try:
                self.events.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _Abandoned()

    def _fetch_job(self, job):
        try:
            if self.stopping.is_set():
                self._put(_Outcome(job, None))
            else:
                self._fetch(job)
        except _Abandoned:
            pass
        except Exception as exc:  # a bug must not hang the crawl: record it on the sitemap
            self._put(_Outcome(job, SitemapFinished(job.key, error=f"internal error: {exc!r}"[:300])))

    def _fetch(self, job):
        finished = SitemapFinished(job.key)
        conditional = self._conditional_headers(job.url)
        try:
            response = self.fetcher.get(job.url, self.config.max_sitemap_bytes, self.deadline, conditional)
        except FetchError as exc:
            finished.error = str(exc)
            self._put(_Outcome(job, None if job.is_probe else finished))
            return
        with response:
            finished.http_status = response.status
            finished.content_type = response.content_type
            finished.response_ms = response.elapsed_ms
            finished.etag = response.headers.get("ETag", "")[:200]
            finished.last_modified = response.headers.get("Last-Modified", "")[:64]
            if response.status == 304 and conditional:
                finished.unchanged = True
                self._put(_Outcome(job, finished))
            elif not response.ok:
                finished.error = f"HTTP {response.status}"
                self._put(_Outcome(job, None if job.is_probe else finished))
            elif not self._claim_final_url(job, response.url):
                self._put(_Outcome(job, None))  # redirected to a sitemap this crawl reads anyway
            else:
                self._pump(job, response, finished)

    def _pump(self, job, response, finished):
        self._put(_Body(job, finished, response.url))
        error = ""
        try:
            for data in response.body:
                if self.stopping.is_set():
                    error = self.stop_reason
                    break
                self._put(_Data(job, data))
        except BodyError as exc:
            error = str(exc)
        self._put(_BodyEnd(job, error, response.body.bytes_read, response.body.compressed))

    def _claim_final_url(self, job, final_url):
        with self.final_lock:
            if final_url != job.url and (final_url in self.seen or final_url in self.final_urls):
                return False
            self.final_urls.add(final_url)
            return True


def _read_capped(body, limit):
    """Up to `limit` bytes; a longer file is cut, not rejected (robots.txt, home pages)."""
    chunks, size = [], 0
    try:
        for data in body:
            chunks.append(data[: limit - size])
            size += len(chunks[-1])
            if size >= limit:
                break
    except BodyError:
        pass
    return b"".join(chunks)
