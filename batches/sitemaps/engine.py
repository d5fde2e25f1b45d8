"""One domain's crawl: find the origin, discover sitemaps, read them concurrently, stream records.

`crawl_domain` is a generator. Sitemaps are fetched and parsed by a small thread pool (network
latency, not parsing, is what threads hide); everything they produce passes through one bounded
queue to the caller's thread, so the caller (which owns the database connection) writes while
the pool reads, and memory stays bounded by the queue size times the chunk size.
"""

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from .discover import home_page_sitemaps, robots_sitemaps, well_known_urls
from .fetch import BodyError, CannotConnect, Fetcher, FetchError
from .parse import ChildSitemap, Kind, SitemapReader
from .records import CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk

QUEUE_SIZE = 16
HOME_PAGE_BYTES = 256 * 1024


@dataclass
class _Job:
    key: int
    url: str
    parent_key: int | None
    found_by: str
    depth: int
    lastmod: object = None

    @property
    def is_probe(self):
        # A well-known path is a guess: a miss is silence, not an error.
        return self.found_by == "well_known"


@dataclass
class _Children:
    job: _Job
    children: list


@dataclass
class _JobDone:
    job: _Job
    recorded: bool
    failed: bool


class _Stopped(Exception):
    pass


def crawl_domain(host, config, scheme=""):
    """Yield SitemapStarted / UrlChunk / SitemapFinished events, then one CrawlFinished.

    `host` is a lower-case host name with an optional port; an empty `scheme` tries https,
    then http, then the www. host. Closing the generator stops the crawl promptly.
    """
    crawl = _Crawl(host, scheme, config)
    try:
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
        self.pool = ThreadPoolExecutor(max_workers=max(1, config.concurrency), thread_name_prefix="sitemap")
        self.seen = set()
        self.next_key = 0
        self.pending = 0
        self.result = CrawlFinished()

    def stop(self):
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
        robots_url = origin + "/robots.txt"
        listed = robots_sitemaps(robots_body, robots_url) if robots_body else []
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
            self.result.error = "no sitemap could be read: " + self._first_error
        yield self.result

    def _drain(self):
        self._first_error = ""
        while self.pending:
            try:
                item = self.events.get(timeout=0.5)
            except queue.Empty:
                self._check_deadline()
                continue
            yield from self._handle(item)
            self._check_deadline()

    def _handle(self, item):
        if isinstance(item, _JobDone):
            self.pending -= 1
            if item.recorded:
                self.result.sitemaps += 1
                self.result.sitemaps_failed += int(item.failed)
        elif isinstance(item, _Children):
            for child in item.children:
                self._schedule(child.url, item.job.key, "index", item.job.depth + 1, child.lastmod)
        elif isinstance(item, UrlChunk):
            yield from self._count_urls(item)
        else:
            if isinstance(item, SitemapFinished):
                self.result.skipped += item.skipped
                if item.error and not self._first_error:
                    self._first_error = item.error
            yield item

    def _count_urls(self, chunk):
        room = self.config.max_urls - self.result.urls
        if room <= 0:
            return
        if len(chunk.urls) >= room:
            chunk.urls = chunk.urls[:room]
            self._note(f"stopped at the limit of {self.config.max_urls:,} URLs per domain")
            self.stopping.set()
        self.result.urls += len(chunk.urls)
        yield chunk

    def _check_deadline(self):
        if time.monotonic() > self.deadline and not self.stopping.is_set():
            self._note(f"stopped at the domain time limit of {self.config.domain_deadline:g} s")
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
        self.pool.submit(self._read_job, job)

    def _find_origin(self):
        """(origin, robots.txt bytes, error): the first candidate origin that answers at all."""
        errors = []
        for origin in self._candidate_origins():
            try:
                response = self.fetcher.get(origin + "/robots.txt", self.config.max_robots_bytes, self.deadline)
            except CannotConnect as exc:
                errors.append(f"{origin}: {exc}")
                continue
            except FetchError as exc:
                errors.append(f"{origin}: {exc}")
                continue
            with _closing(response):
                final = urlsplit(response.url)
                answered = f"{final.scheme}://{final.netloc}"
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
            response = self.fetcher.get(origin + "/", HOME_PAGE_BYTES, self.deadline)
        except FetchError:
            return []
        with _closing(response):
            if not response.ok:
                return []
            return home_page_sitemaps(_read_capped(response.body, HOME_PAGE_BYTES), response.url)

    # --- pool threads ----------------------------------------------------------------
    def _emit(self, item):
        while True:
            if self.stopping.is_set() and not isinstance(item, _JobDone):
                raise _Stopped()
            try:
                self.events.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _read_job(self, job):
        recorded = failed = False
        try:
            recorded, failed = self._read_sitemap(job)
        except _Stopped:
            pass
        except Exception as exc:  # a bug must not hang the crawl: record it on the sitemap
            if not recorded:
                self._safe_emit(SitemapStarted(job.key, job.url, job.parent_key, job.found_by, job.lastmod))
            self._safe_emit(SitemapFinished(job.key, error=f"internal error: {exc!r}"[:300]))
            recorded, failed = True, True
        finally:
            self._safe_emit(_JobDone(job, recorded, failed))

    def _safe_emit(self, item):
        try:
            self._emit(item)
        except _Stopped:
            pass

    def _read_sitemap(self, job):
        """Fetch, parse and emit one sitemap; returns (recorded, failed)."""
        try:
            response = self.fetcher.get(job.url, self.config.max_sitemap_bytes, self.deadline)
        except FetchError as exc:
            if job.is_probe:
                return False, False
            self._start(job)
            self._emit(SitemapFinished(job.key, error=str(exc)))
            return True, True
        with _closing(response):
            return self._read_response(job, response)

    def _read_response(self, job, response):
        finished = SitemapFinished(
            job.key, http_status=response.status, content_type=response.content_type,
            response_ms=response.elapsed_ms,
        )
        if not response.ok:
            if job.is_probe:
                return False, False
            self._start(job)
            finished.error = f"HTTP {response.status}"
            self._emit(finished)
            return True, True
        reader = SitemapReader(response.body, response.url)
        started = False
        chunk, count = [], 0
        for item in reader:
            if not started:
                self._start(job)
                started = True
            if isinstance(item, ChildSitemap):
                chunk.append(item)
                if len(chunk) >= 500:
                    self._emit(_Children(job, chunk))
                    chunk = []
                continue
            chunk.append(item)
            count += 1
            if len(chunk) >= self.config.chunk_size:
                self._emit(UrlChunk(job.key, chunk))
                chunk = []
        if chunk:
            self._emit(_Children(job, chunk) if reader.kind == Kind.INDEX else UrlChunk(job.key, chunk))
        if not started:
            if job.is_probe and (reader.kind == Kind.NOT_SITEMAP or response.url in self.seen and response.url != job.url):
                return False, False
            self._start(job)
        finished.kind = reader.kind
        finished.url_count = count
        finished.skipped = reader.skipped
        finished.generator = reader.generator
        finished.error = reader.error
        finished.bytes = response.body.bytes_read
        finished.compressed = response.body.compressed or response.content_encoding in ("gzip", "x-gzip", "deflate")
        self._emit(finished)
        return True, bool(reader.error) and count == 0 and reader.kind != Kind.INDEX

    def _start(self, job):
        self._emit(SitemapStarted(job.key, job.url, job.parent_key, job.found_by, job.lastmod))


class _closing:
    def __init__(self, response):
        self.response = response

    def __enter__(self):
        return self.response

    def __exit__(self, *exc):
        self.response.close()


def _read_capped(body, limit):
    """Up to `limit` bytes; a longer file is cut, not rejected (robots.txt, home pages)."""
    chunks, size = [], 0
    try:
        while size < limit:
            data = body.read(min(64 * 1024, limit - size))
            if not data:
                break
            chunks.append(data)
            size += len(data)
    except BodyError:
        pass
    return b"".join(chunks)
