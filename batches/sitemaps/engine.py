"""One domain's crawl: find the origin, discover sitemaps, read them concurrently, stream records.

`crawl_domain` is a generator. A small thread pool downloads sitemaps (network latency is what
threads hide) and passes their decompressed bytes through one bounded queue to the caller's
thread, which parses them (push parsers, one per sitemap, so downloads interleave freely) and
stores what they yield. Parsing stays on one thread at a time on purpose: on two cores, several
threads parsing under the GIL are slower than one, and they starve the thread that writes to
the database. With CrawlConfig.parse_ahead, once a sitemap body passes PARSE_AHEAD_BYTES a
helper thread parses while the caller is busy storing what it was given (the database writes
without the GIL meanwhile), never at the same time as the caller's thread; small sitemaps stay
serial, where a second thread costs more than it hides. Memory is bounded by the queue (chunks
of at most a few hundred KiB), one pending UrlChunk per sitemap being read, and READY_CHUNKS.

Each sitemap file is read once: URLs are claimed by their normal form (identity.normal_form)
when scheduled and at every redirect hop, before the hop is requested. Named sitemaps (robots.txt,
the home page) take precedence over the well-known probes, which run concurrently with them but
claim their URL only once the named ones know where they land.
"""

import hashlib
import inspect
import queue
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from .discover import home_page_sitemaps, robots_sitemaps, well_known_urls
from .fetch import AlreadyRead, Blocked, BodyError, CannotConnect, Fetcher, FetchError
from .identity import normal_form
from .parse import Kind, SitemapReader
from .records import CrawlFinished, DomainError, SitemapFinished, SitemapProblem, SitemapStarted, UrlChunk

QUEUE_SIZE = 32  # body chunks in flight (each at most fetch.PIECE_SIZE bytes)
READY_CHUNKS = 2  # UrlChunks parsed ahead of the caller, at most
# Decompressed bytes of one sitemap body past which a parse-ahead helper starts (with
# CrawlConfig.parse_ahead): a body this big gives the caller several chunks to store.
PARSE_AHEAD_BYTES = 1024 * 1024
CANCEL_POLL = 1.0  # seconds between two calls of the caller's `cancelled`
# A probe's answer waits (this long at most) until every sitemap robots.txt or the home page
# named knows where its redirects land, so a named sitemap that redirects to a probed path is
# listed under the source that named it, not under the probe.
PROBE_HOLD = 2.0
CATCH_ALL_ANSWERS = 3  # probes answering the same non-sitemap page: the host answers it to every path
FINGERPRINT_BYTES = 4096
_helpers = 0  # parse-ahead helper threads running in this process
_helpers_lock = threading.Lock()
# The GIL's switch interval while a helper runs. The caller waits on its database many times
# a chunk, and each time it wants the GIL back the busy helper keeps it for up to an interval
# (5 ms by default): 1,000,000 URLs on PostgreSQL took 20.7 s that way, 17.4 s at 0.5 ms
# (medians of 3). Put back when the last helper ends.
HELPER_SWITCH_INTERVAL = 0.0005
_switch_interval_before = None
# The parser learns the HTTP charset in a later version; until then it is not passed.
_READER_TAKES_CHARSET = "charset" in inspect.signature(SitemapReader).parameters


@dataclass
class _Job:
    key: int
    url: str
    parent_key: int | None
    found_by: str
    depth: int
    lastmod: object = None
    started: bool = False
    landed: bool = False  # its request got past every redirect (or failed)
    ruled: threading.Event | None = None  # a probe's: set once the caller has read what it answered

    @property
    def is_probe(self):
        # A well-known path is a guess: a miss is silence, not an error.
        return self.found_by == "well_known"

    @property
    def is_listed(self):
        return self.found_by in ("robots", "home_page")


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
    charset: str = ""


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
    code: str = ""  # the SitemapProblem of `error`


class _Wake:
    """The last job in flight ended with nothing to report: the caller stops waiting."""


class _Abandoned(Exception):
    pass


class _Reading:
    """The caller's state for one sitemap whose body is arriving."""

    def __init__(self, body):
        self.job = body.job
        self.finished = body.finished
        if _READER_TAKES_CHARSET:
            self.reader = SitemapReader(url=body.final_url, charset=body.charset)
        else:
            self.reader = SitemapReader(url=body.final_url)
        self.chunk = []
        self.fed = 0  # bytes given to the reader
        self.dropped = False  # chunks were dropped after the crawl stopped
        self.head = hashlib.blake2b(digest_size=16)  # of the first bytes: tells catch-all pages apart
        self.head_size = 0

    def remember_head(self, data):
        if self.head_size < FINGERPRINT_BYTES:
            piece = data[: FINGERPRINT_BYTES - self.head_size]
            self.head.update(piece)
            self.head_size += len(piece)


def crawl_domain(host, config, scheme="", cancelled=None):
    """Yield SitemapStarted / UrlChunk / SitemapFinished events, then one CrawlFinished.

    `host` is a lower-case host name with an optional port; an empty `scheme` tries https,
    then http, then the www. host. Closing the generator stops the crawl promptly; so does
    `cancelled` (a callable polled about once a second between body chunks, also while no
    event is yielded) returning True.
    """
    crawl = _Crawl(host, scheme, config, cancelled)
    try:
        yield from crawl._handing_over(crawl.run())
    finally:
        crawl.stop()


class _Crawl:
    def __init__(self, host, scheme, config, cancelled=None):
        self.host = _bracketed(host)
        self.cancelled = cancelled
        self.next_poll = 0.0
        self.caller = threading.current_thread()  # the thread that runs the generator
        self.scheme = scheme
        self.config = config
        self.fetcher = Fetcher(config)
        self.deadline = time.monotonic() + config.domain_deadline
        self.events = queue.Queue(QUEUE_SIZE)
        self.stopping = threading.Event()
        self.abandoned = threading.Event()  # the caller is gone: pool threads drop everything
        self.stop_reason = ""
        self.stop_code = ""
        self.pool = ThreadPoolExecutor(max_workers=max(1, config.concurrency), thread_name_prefix="sitemap")
        # normal form of every sitemap URL scheduled or landed on by a redirect -> the job
        # that claimed it: a file is downloaded once whatever its spelling or the path to it
        self.claims = {}
        self.claims_lock = threading.Lock()
        self.listed = []  # URLs named by robots.txt or the home page (probes are judged against them)
        self.catch_all = {}  # fingerprint of a probe's non-sitemap answer -> how many gave it
        self.failure_codes = []  # the SitemapProblem of each failed sitemap
        self.unlanded = 0  # listed jobs whose redirects are not resolved yet (under claims_lock)
        self.listing_done = False
        self.listed_landed = threading.Event()
        self.next_key = 0
        self.pending = 0  # jobs scheduled whose end the caller has not seen (under claims_lock)
        self.first_error = ""
        self.reading = {}  # job key -> _Reading, for bodies being parsed
        self.ready = deque()  # events parsed ahead, waiting for the caller
        # UrlChunks made by the turn's holder and taken from `ready` by the caller: each
        # counter has one writer, so their difference is safe to read from either thread
        self.chunks_made = self.chunks_taken = 0
        self.turn = threading.Lock()  # held by whichever thread may parse
        self.caller_busy = threading.Event()
        self.helper = None  # the parse-ahead thread, once a body is big enough
        self.result = CrawlFinished()

    def stop(self):
        self.abandoned.set()
        self.stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.fetcher.close()

    # --- the caller's thread ----------------------------------------------------
    def run(self):
        self.caller = threading.current_thread()
        origin, robots_body, error, code = self._find_origin()
        if origin is None:
            self.result.error, self.result.error_code = error, code
            yield self.result
            return
        self.result.origin = origin
        listed = robots_sitemaps(robots_body, origin + "/robots.txt") if robots_body else []
        for url in listed:
            self._schedule(url, None, "robots", 0)
        if not listed:
            listed = self._home_page_links(origin)
            for url in listed:
                self._schedule(url, None, "home_page", 0)
        self.listed = listed
        with self.claims_lock:
            self.listing_done = True
            self._release_probes()
        if self.config.probe_well_known:
            for url in well_known_urls(origin):
                self._schedule(url, None, "well_known", 0)
        yield from self._drain()
        if self.result.sitemaps and self.result.sitemaps == self.result.sitemaps_failed and not self.result.urls:
            self.result.error = "no sitemap could be read: " + self.first_error
            self.result.error_code = self._domain_error_code()
        yield self.result

    def _domain_error_code(self):
        """Why every sitemap failed, as one DomainError: a shared cause when there is one."""
        if self.stop_reason and self.stop_reason == self._deadline_message():
            return DomainError.DEADLINE
        causes = set(self.failure_codes)
        for problem, code in ((SitemapProblem.HTTP_ERROR, DomainError.HTTP_ERROR),
                              (SitemapProblem.BLOCKED, DomainError.BLOCKED),
                              (SitemapProblem.TIMEOUT, DomainError.TIMEOUT),
                              (SitemapProblem.INTERNAL, DomainError.INTERNAL)):
            if causes == {problem}:
                return code
        return DomainError.NO_READABLE_SITEMAP

    def _deadline_message(self):
        return f"stopped at the domain time limit of {self.config.domain_deadline:g} s"

    def _drain(self):
        while self.pending or self.ready:
            if self.ready:
                yield self._take_ready()
                continue
            try:
                item = self.events.get(timeout=0.5)
            except queue.Empty:
                self._check_deadline()
                continue
            # Dispatched whole before anything is yielded: a parse-ahead helper may take the
            # turn at any yield, and a dispatch left half done (records read, not yet put in
            # their chunk) would let it finish the same sitemap first and lose those records.
            self.ready.extend(self._dispatch(item))

    def _dispatch(self, item):
        # Before, not only after: a caller that comes back from storing past the deadline
        # must not parse the next piece (a whole piece is dispatched before it is yielded).
        self._check_deadline()
        if isinstance(item, _Data):
            if self.stopping.is_set():
                self.reading[item.job.key].dropped = True  # stopped: what is queued is not parsed
            else:
                yield from self._parse(item)
        elif isinstance(item, _Body):
            self.reading[item.job.key] = _Reading(item)
        elif isinstance(item, _BodyEnd):
            yield from self._end_body(item)
        elif isinstance(item, _Outcome):
            yield from self._record_outcome(item.job, item.finished)
        self._check_deadline()

    # --- parsing ahead while the caller stores (CrawlConfig.parse_ahead) -----------
    # The caller's thread gives the parse state (the "turn") away for as long as the caller is
    # busy with an event, and takes it back before going on: one thread at a time parses, and
    # what the helper produces waits in `ready`, in order. Every yield is between two whole
    # dispatches, so the helper may take the turn at any of them. Until a body is big enough
    # there is no helper, and the turn is a lock nobody else asks for.
    def _handing_over(self, events):
        self.turn.acquire()
        holding = True
        try:
            for event in events:
                self.caller_busy.set()
                self.turn.release()
                holding = False
                yield event
                # What the helper has made is taken without waiting for the turn: the helper
                # may be in the middle of a piece, or of preparing a chunk (tens of ms), and
                # it only ever appends whole events to `ready`, in order.
                while self.ready:
                    yield self._take_ready()
                self.caller_busy.clear()
                self.turn.acquire()
                holding = True
        finally:
            self.abandoned.set()
            self.caller_busy.clear()
            if holding:  # closed at a yield, the turn may be the helper's: it is not ours to release
                self.turn.release()

    def _take_ready(self):
        """The oldest event parsed ahead; the caller's thread only."""
        event = self.ready.popleft()
        if isinstance(event, UrlChunk):
            self.chunks_taken += 1
        return event

    def _start_helper(self):
        self.helper = threading.Thread(target=self._parse_ahead, name="sitemap-parse-ahead", daemon=True)
        self.helper.start()

    def _parse_ahead(self):
        global _helpers, _switch_interval_before
        with _helpers_lock:
            _helpers += 1
            if _helpers == 1:
                _switch_interval_before = sys.getswitchinterval()
                sys.setswitchinterval(min(HELPER_SWITCH_INTERVAL, _switch_interval_before))
        try:
            while not self.abandoned.is_set():
                if not self.caller_busy.wait(0.5):
                    continue
                if not self._parse_one_ahead():
                    time.sleep(0.005)
        finally:
            with _helpers_lock:
                _helpers -= 1
                if _helpers == 0:
                    sys.setswitchinterval(_switch_interval_before)

    def _parse_one_ahead(self):
        """Dispatch one queued item for the busy caller; False when there was nothing to do."""
        with self.turn:
            if not self.caller_busy.is_set() or self.abandoned.is_set():
                return False
            if self.chunks_made - self.chunks_taken >= READY_CHUNKS:
                return False  # far enough ahead: memory, not speed, is at stake now
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                return False
            self.ready.extend(self._dispatch(item))
            return True

    def _parse(self, item):
        reading = self.reading[item.job.key]
        if reading.job.is_probe:
            reading.remember_head(item.data)
        reading.fed += len(item.data)
        if reading.fed > PARSE_AHEAD_BYTES and self.helper is None and self.config.parse_ahead:
            self._start_helper()
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
        error, code = end.error, end.code
        if not error and reading.dropped:
            error, code = self.stop_reason, self.stop_code
        records = reader.stop(error) if error else reader.close()
        if records:
            yield from self._take(reading, records)
        if reading.chunk:
            yield from self._count_urls(UrlChunk(reading.job.key, reading.chunk))
        finished = reading.finished
        finished.kind, finished.skipped, finished.generator = reader.kind, reader.skipped, reader.generator
        finished.error, finished.bytes, finished.compressed = reader.error, end.bytes_read, end.compressed
        finished.skipped_by_reason = dict(getattr(reader, "skipped_by_reason", None) or {})
        if reader.error:
            finished.error_code = code if error and reader.error == error else _reader_problem(reader)
        if end.job.is_probe and not end.job.started and reader.kind == Kind.NOT_SITEMAP:
            self._note_catch_all(reading)
            finished = None  # a soft 404 or some other page at a guessed path
        if end.job.ruled:
            end.job.ruled.set()
        yield from self._record_outcome(end.job, finished)

    def _note_catch_all(self, reading):
        fingerprint = (reading.head.digest(), reading.finished.content_type)
        self.catch_all[fingerprint] = self.catch_all.get(fingerprint, 0) + 1

    def _is_catch_all_host(self):
        # read by pool threads: a stale count only means one more probe is made
        return any(count >= CATCH_ALL_ANSWERS for count in list(self.catch_all.values()))

    def _record_outcome(self, job, finished):
        self._count_off()
        if finished is None:
            return
        if not job.started:
            yield self._start(job)
        failed = bool(finished.error) and finished.url_count == 0 and finished.kind != Kind.INDEX
        self.result.sitemaps += 1
        self.result.sitemaps_failed += int(failed)
        self.result.skipped += finished.skipped
        if failed:
            self.failure_codes.append(finished.error_code)
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
            self._stop(f"stopped at the limit of {self.config.max_urls:,} URLs per domain", SitemapProblem.TOO_LARGE)
        self.result.urls += len(chunk.urls)
        if self.config.prepare_chunk is not None:
            chunk.prepared = self.config.prepare_chunk(chunk.urls)
        self.chunks_made += 1
        yield chunk

    def _check_deadline(self):
        """Between two body chunks: the domain's time limit, and the caller's cancel."""
        if self.stopping.is_set():
            return
        now = time.monotonic()
        if now > self.deadline:
            self._stop(self._deadline_message())
        elif self.cancelled is not None and now >= self.next_poll and threading.current_thread() is self.caller:
            # only the caller's thread asks: `cancelled` may use its database connection
            self.next_poll = now + CANCEL_POLL
            if self.cancelled():
                self.stop_reason, self.stop_code = "stopped: the crawl was cancelled", SitemapProblem.TIMEOUT
                self.stopping.set()

    def _stop(self, reason, code=SitemapProblem.TIMEOUT):
        if not self.stop_reason:
            self.stop_reason, self.stop_code = reason, code
        self._note(reason)
        self.stopping.set()

    def _note(self, text):
        if text not in self.result.notes:
            self.result.notes.append(text)

    def _schedule(self, url, parent_key, found_by, depth, lastmod=None):
        key = normal_form(url)
        if key in self.claims or self.stopping.is_set():
            return
        if depth > self.config.max_depth:
            self._note(f"sitemap indexes nested deeper than {self.config.max_depth} levels were not followed")
            return
        if self.next_key >= self.config.max_sitemaps:
            self._note(f"stopped at the limit of {self.config.max_sitemaps:,} sitemaps per domain")
            return
        self.next_key += 1
        job = _Job(self.next_key, url, parent_key, found_by, depth, lastmod)
        if job.is_probe:
            job.ruled = threading.Event()
        if not job.is_probe and not self._claim(job, url):
            return  # a redirect of a job in flight landed there a moment ago: it is read already
        with self.claims_lock:
            self.pending += 1
        if self._index_lastmod_unchanged(job):
            # Not fetched at all: the caller keeps the previous run's URLs of this child.
            self.ready.extend(self._record_outcome(job, SitemapFinished(job.key, unchanged=True)))
            return
        if job.is_listed:
            with self.claims_lock:
                self.unlanded += 1
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

    def _landed(self, job):
        """`job` knows where it lands (any thread); the probes go once every listed job does."""
        with self.claims_lock:
            if job.is_listed and not job.landed:
                job.landed = True
                self.unlanded -= 1
                self._release_probes()

    def _release_probes(self):
        if self.listing_done and self.unlanded == 0:
            self.listed_landed.set()

    def _claim(self, job, url):
        """True when `url` is `job`'s to read: first come, first served, by normal form."""
        with self.claims_lock:
            return self.claims.setdefault(normal_form(url), job.key) == job.key

    def _find_origin(self):
        """(origin, robots.txt bytes, error, DomainError code): the first candidate origin
        that answers at all; its robots.txt outcome is recorded on the result."""
        errors, codes = [], []
        for origin in self._candidate_origins():
            try:
                response = self.fetcher.get(origin + "/robots.txt", self.config.max_robots_bytes, self.deadline)
            except (CannotConnect, Blocked) as exc:
                errors.append(f"{origin}: {exc}")
                codes.append(exc.code)
                continue
            except FetchError as exc:
                self.result.robots_error = str(exc)
                return origin, b"", "", ""  # it answered, if badly (a redirect loop, a stall): read its sitemaps
            with response:
                final = urlsplit(response.url)
                answered = f"{final.scheme}://{final.netloc}" if final.netloc.lower() == urlsplit(origin).netloc else origin
                self.result.robots_status = response.status
                body = self._read_robots(response) if response.ok else b""
            return answered, body, "", ""
        return None, b"", "; ".join(errors) or "no origin to try", codes[0] if codes else DomainError.INTERNAL

    def _read_robots(self, response):
        body, error = _read_capped(response.body, self.config.max_robots_bytes)
        self.result.robots_bytes = len(body)
        self.result.robots_error = error
        return body

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
            return home_page_sitemaps(_read_capped(response.body, self.config.max_home_page_bytes)[0], response.url)

    # --- pool threads: download only ---------------------------------------------------
    def _count_off(self):
        """One job fewer in flight; True when it was the last."""
        with self.claims_lock:
            self.pending -= 1
            return self.pending == 0

    def _end_silently(self, job):
        """A job with nothing to record (a probe that missed, a file read elsewhere) is counted
        off here, on its download thread: waking the caller for each of a domain's dozen missed
        probes cost more CPU, in thread switches, than the probes. The last one wakes it."""
        if self._count_off():
            self._put(_Wake())

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
            if self.stopping.is_set() or self._pointless(job):
                self._end_silently(job)
            else:
                self._fetch(job)
        except _Abandoned:
            pass
        except Exception as exc:  # a bug must not hang the crawl: record it on the sitemap
            error = f"internal error: {exc!r}"[:300]
            self._put(_Outcome(job, SitemapFinished(job.key, error=error, error_code=SitemapProblem.INTERNAL)))
        finally:
            self._landed(job)

    def _pointless(self, job):
        """A probe an earlier answer has made pointless: the host answers one page to every
        path, or robots.txt (or the home page) names this very path on a host name that
        resolves to the same server (localhost and 127.0.0.1; example.com and its alias)."""
        if not job.is_probe:
            return False
        if self._is_catch_all_host():
            return True
        probe = urlsplit(job.url)
        for url in self.listed:
            named = urlsplit(url)
            if (named.path, named.query) == (probe.path, probe.query) and self.fetcher.same_server(url, job.url):
                return True
        return False

    def _probe_claims(self, job):
        """Claim a probe's URL once its answer is in (the request went out at once, so probing
        costs no extra round trip) and every named sitemap has had its turn to land there."""
        self.listed_landed.wait(PROBE_HOLD)
        return self._claim(job, job.url)

    def _fetch(self, job):
        finished = SitemapFinished(job.key)
        conditional = self._conditional_headers(job.url)
        pumped = False
        try:
            response = self.fetcher.get(job.url, self.config.max_sitemap_bytes, self.deadline,
                                        landing=lambda url: self._claim(job, url), headers=conditional)
            self._landed(job)
        except AlreadyRead:
            self._end_silently(job)  # redirected to a sitemap this crawl reads anyway
            return
        except FetchError as exc:
            finished.error, finished.error_code = str(exc), exc.problem
            self._failed_before_body(job, finished)
            return
        with response:
            if job.is_probe and not self._probe_claims(job):
                self._end_silently(job)  # a named sitemap landed here: it is read there
                return
            finished.http_status = response.status
            finished.content_type = response.content_type
            finished.response_ms = response.elapsed_ms
            finished.final_url = response.url
            finished.etag = response.headers.get("ETag", "")[:200]
            finished.last_modified = response.headers.get("Last-Modified", "")[:200]
            if response.status == 304 and conditional:
                finished.unchanged = True
                self._put(_Outcome(job, finished))
            elif not response.ok:
                finished.error, finished.error_code = f"HTTP {response.status}", SitemapProblem.HTTP_ERROR
                self._failed_before_body(job, finished)
            else:
                self._pump(job, response, finished)
                pumped = True
        if pumped and job.ruled:  # a probe's
            # A probe that answered a page takes its thread's next probe only once the caller
            # has read it: three identical non-sitemap answers stop the probing, and they must
            # be counted before more probes start, however far the caller is behind.
            job.ruled.wait(PROBE_HOLD)

    def _failed_before_body(self, job, failed):
        """A sitemap that failed before its body: recorded, but a probe's miss is silence."""
        if job.is_probe:
            self._end_silently(job)
        else:
            self._put(_Outcome(job, failed))

    def _pump(self, job, response, finished):
        self._put(_Body(job, finished, response.url, response.charset))
        error, code = "", ""
        try:
            for data in response.body:
                if self.stopping.is_set():
                    error, code = self.stop_reason, self.stop_code
                    break
                self._put(_Data(job, data))
        except BodyError as exc:
            error, code = str(exc), exc.code
        self._put(_BodyEnd(job, error, response.body.bytes_read, response.body.compressed, code))


def parsing_ahead():
    """Whether a parse-ahead helper runs in this process: a writer that holds the GIL row by
    row would then take turns with it (the store writes a chunk in one call instead)."""
    return _helpers > 0


def _reader_problem(reader):
    code = getattr(reader, "error_code", "")
    if code:
        return code
    return SitemapProblem.XML_ERROR  # what the parser reports without a code is damaged markup


def _bracketed(host):
    """A bare IPv6 literal ("::1", "::1" with no port) as a URL's host needs its brackets."""
    if host.count(":") > 1 and not host.startswith("["):
        return f"[{host}]"
    return host


def _read_capped(body, limit):
    """(up to `limit` bytes, the error that cut it short or ""); a longer file is cut, not
    rejected (robots.txt, home pages)."""
    chunks, size = [], 0
    try:
        for data in body:
            chunks.append(data[: limit - size])
            size += len(chunks[-1])
            if size >= limit:
                break
    except BodyError as exc:
        return b"".join(chunks), str(exc)
    return b"".join(chunks), ""
