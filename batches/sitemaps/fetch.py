"""HTTP for the engine: guarded connections, redirects followed hop by hop, bounded retries,
streamed and capped bodies."""

import socket
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from requests.exceptions import InvalidSchema, InvalidURL, MissingSchema, RequestException
from requests.models import PreparedRequest
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_auth_from_url
from urllib3 import Retry, Timeout, make_headers
from urllib3.exceptions import (
    ClosedPoolError, ConnectTimeoutError, HTTPError, LocationValueError, MaxRetryError, NewConnectionError,
    ProtocolError, ReadTimeoutError, SSLError,
)

from .codings import BodyError, cap_message, decode_content_codings, inflate_gzip_file
from .deadlines import watchdog
from .guard import BlockedAddressError, GuardedPools, watching
from .records import DomainError, SitemapProblem

READ_SIZE = 64 * 1024
REDIRECT_BODY_CAP = 16 * 1024  # an unwanted body (a 3xx, a 404 page) is drained this far at most
DRAIN_TIMEOUT = 0.25  # seconds to wait for those bytes before closing the connection instead
RETRY_STATUSES = {429, 500, 502, 503, 504}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """A request that produced no usable response; the message is shown to users and `code`
    (a DomainError value) says why in one word."""

    code = DomainError.HTTP_ERROR

    def __init__(self, message, code=None):
        super().__init__(message)
        if code:
            self.code = code

    @property
    def problem(self):
        """The SitemapProblem this error is for one sitemap file."""
        return _SITEMAP_PROBLEMS.get(self.code, SitemapProblem.HTTP_ERROR)


class CannotConnect(FetchError):
    """Nothing answered at all (DNS, refused, TLS, connect timeout): worth a fallback origin."""

    code = DomainError.REFUSED


class Blocked(FetchError):
    """The address guard refused the host (or a redirect hop)."""

    code = DomainError.BLOCKED


class AlreadyRead(FetchError):
    """A redirect landed on a sitemap this crawl reads anyway (the caller's `landing` said so)."""


_SITEMAP_PROBLEMS = {
    DomainError.DNS: SitemapProblem.CONNECTION,
    DomainError.REFUSED: SitemapProblem.CONNECTION,
    DomainError.TLS: SitemapProblem.CONNECTION,
    DomainError.TIMEOUT: SitemapProblem.TIMEOUT,
    DomainError.DEADLINE: SitemapProblem.TIMEOUT,
    DomainError.BLOCKED: SitemapProblem.BLOCKED,
    DomainError.HTTP_ERROR: SitemapProblem.HTTP_ERROR,
    DomainError.INTERNAL: SitemapProblem.INTERNAL,
}


@dataclass
class Response:
    url: str  # after redirects
    status: int
    content_type: str
    content_encoding: str
    elapsed_ms: int
    headers: dict
    body: "Body"
    redirects: list = field(default_factory=list)  # the URLs redirected through, in order

    @property
    def ok(self):
        return 200 <= self.status < 300

    @property
    def charset(self):
        """The Content-Type's charset parameter, lower-case, or ""."""
        for parameter in self.headers.get("Content-Type", "").split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip("\"'").lower()
        return ""

    def close(self):
        self.body.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Fetcher:
    """One per domain crawl; thread-safe for concurrent GETs of child sitemaps.

    Requests go to urllib3's pools directly: requests' session and adapter layers (cookies,
    hooks, proxies from the environment, a second header dict per answer) cost a third of a
    small request's CPU and gave nothing here. URLs are still prepared by requests (IDNA,
    quoting, the same errors) and verified against the same CA bundle. No proxy is ever used:
    the guard would judge the proxy, not the site."""

    def __init__(self, config):
        self.config = config
        self.headers = {
            "User-Agent": config.user_agent,
            "Accept-Encoding": "gzip, deflate",
            "Accept": "application/xml, text/xml, application/rss+xml, text/plain;q=0.9, */*;q=0.5",
            "Connection": "keep-alive",
        }
        self.pools = GuardedPools(
            guarded=not config.allow_private_hosts, allowed_addresses=config.allowed_addresses,
            num_pools=8, maxsize=max(4, config.concurrency * 2), block=False,
            cert_reqs="CERT_REQUIRED", ca_certs=DEFAULT_CA_BUNDLE_PATH,
        )
        self.resolver = self.pools.resolver
        self.timeout = Timeout(connect=config.connect_timeout, read=config.read_timeout)

    def close(self):
        self.pools.clear()

    def same_server(self, url, other):
        """True when both URLs name one port on host names resolving to the same addresses."""
        first, second = urlsplit(url), urlsplit(other)
        try:
            if _port(first) != _port(second):
                return False
            return set(self.resolver.addresses(first.hostname or "")) == set(self.resolver.addresses(second.hostname or ""))
        except (OSError, ValueError, BlockedAddressError):
            return False

    def get(self, url, max_bytes, deadline=None, landing=None, headers=None):
        """GET with bounded retries on 429/5xx; returns a Response whose body the caller must close.

        Redirects are followed here, hop by hop: `landing(url)`, when given, is asked before
        each hop is requested and may refuse it (AlreadyRead) when the crawl reads that URL anyway.
        `headers` (conditional ones on a re-run) are sent with every hop.
        """
        attempt = 0
        while True:
            response = self._get_once(url, max_bytes, deadline, landing, headers)
            if response.status not in RETRY_STATUSES or attempt >= self.config.retries:
                return response
            delay = self._retry_delay(response, attempt)
            if deadline is not None and time.monotonic() + delay > deadline:
                return response  # waiting would overrun the domain's budget: take the answer as it is
            response.close()
            self._tell_gate(url, response, delay)
            time.sleep(delay)
            attempt += 1

    def _tell_gate(self, url, response, delay):
        # A Retry-After is the host asking every worker to wait, not just this request.
        back_off = getattr(self.config.host_gate, "back_off", None)
        if back_off is not None and "Retry-After" in response.headers:
            back_off(urlsplit(url).netloc.lower(), delay)

    def _retry_delay(self, response, attempt):
        retry_after = retry_after_seconds(response.headers.get("Retry-After", ""))
        if retry_after is None:
            retry_after = self.config.retry_backoff * (2**attempt)
        return min(retry_after, self.config.max_retry_after)

    def _get_once(self, url, max_bytes, deadline, landing, headers=None):
        gate = self.config.host_gate
        if gate is None:
            return self._request(url, max_bytes, deadline, landing, headers)
        with gate.slot(urlsplit(url).netloc.lower()):
            return self._request(url, max_bytes, deadline, landing, headers)

    def _request(self, url, max_bytes, deadline, landing, headers=None):
        started = time.monotonic()
        watch = self._watch(started, deadline)
        try:
            with watching(watch):
                raw, final_url, redirects = self._follow(url, watch, landing, headers)
        except BlockedAddressError as exc:
            watch.stop()
            raise Blocked(str(exc)) from None
        except FetchError:
            watch.stop()
            raise
        except (HTTPError, OSError, RequestException) as exc:
            watch.stop()
            raise self._request_error(exc, watch) from None
        headers = raw.headers
        codings = headers.get("Content-Encoding", "").strip().lower()
        return Response(
            url=final_url,
            status=raw.status,
            content_type=headers.get("Content-Type", "").split(";")[0].strip().lower(),
            content_encoding=codings,
            elapsed_ms=int((time.monotonic() - started) * 1000),
            headers=headers,
            body=Body(raw, max_bytes, watch, codings, self.config.read_timeout),
            redirects=redirects,
        )

    def _watch(self, started, deadline):
        request_deadline = started + self.config.request_deadline
        if deadline is not None and deadline < request_deadline:
            return _Watch(deadline, f"stopped at the domain time limit of {self.config.domain_deadline:g} s",
                          DomainError.DEADLINE)
        return _Watch(request_deadline, f"download took longer than {self.config.request_deadline:g} s",
                      DomainError.TIMEOUT)

    def _follow(self, url, watch, landing, headers=None):
        """(the first non-redirect answer, its URL as requested, the URLs redirected through).
        A redirect's body is drained raw up to REDIRECT_BODY_CAP and never decoded: a client's
        own redirect handling reads it whole with its Content-Encoding undone, which a hostile
        3xx turns into a bomb."""
        redirects = []
        while True:
            raw, prepared_url = self._send(url, headers)
            location = raw.headers.get("Location") if raw.status in REDIRECT_STATUSES else None
            if location is None:
                return raw, prepared_url, redirects
            _discard(raw, watch.connection)
            if watch.timed_out:
                raise FetchError(watch.message, watch.code)
            if len(redirects) >= self.config.max_redirects:
                raise FetchError(f"more than {self.config.max_redirects} redirects (or a redirect loop)")
            redirects.append(url)
            url = urljoin(url, location.strip())
            if landing is not None and not landing(url):
                raise AlreadyRead(f"redirected to {url}, read already")

    def _send(self, url, headers=None):
        """(urllib3's streamed answer, the URL as prepared and requested)."""
        prepared = _prepared_url(url)
        pool = self.pools.connection_from_url(prepared)
        headers = {**self.headers, **headers} if headers else self.headers
        user, password = get_auth_from_url(prepared) if "@" in urlsplit(prepared).netloc else ("", "")
        if user or password:  # credentials in the URL go as Basic auth, as requests sent them
            headers = {**headers, **make_headers(basic_auth=f"{user}:{password}")}
        raw = pool.urlopen(
            "GET", _request_target(prepared), headers=headers,
            redirect=False, assert_same_host=False, preload_content=False, decode_content=False,
            retries=_NO_RETRIES, timeout=self.timeout, chunked=False,
        )
        return raw, prepared

    def _request_error(self, exc, watch):
        """The FetchError for urllib3's (or URL preparation's) exception, read as requests'
        adapter read them before: a connection that failed arrives wrapped in MaxRetryError."""
        if watch.timed_out:
            return FetchError(watch.message, watch.code)
        reason = exc.reason if isinstance(exc, MaxRetryError) else exc
        if isinstance(exc, (LocationValueError, InvalidURL, InvalidSchema, MissingSchema)):
            return FetchError(f"invalid URL: {exc}")
        if isinstance(reason, SSLError):
            return CannotConnect(_describe(exc), DomainError.TLS)
        if isinstance(exc, MaxRetryError) and isinstance(reason, ConnectTimeoutError) and not isinstance(
                reason, NewConnectionError):
            return CannotConnect("connection timed out", DomainError.TIMEOUT)
        if isinstance(exc, (MaxRetryError, ProtocolError, ClosedPoolError, OSError)):
            return CannotConnect(*_connection_problem(exc))
        if isinstance(exc, ReadTimeoutError):
            # connected, but not a byte of an answer: for finding an origin, as good as no server
            return CannotConnect(f"no answer within {self.config.read_timeout:g} s", DomainError.TIMEOUT)
        return FetchError(_describe(exc))


_NO_RETRIES = Retry(0, read=False)  # retries are Fetcher.get's, with the host gate told
_SCHEMES = ("http://", "https://")


def _prepared_url(url):
    """The URL as requests prepares it (IDNA host, quoted path), or requests' own error."""
    prepared = PreparedRequest()
    prepared.prepare_url(url, None)
    if not prepared.url.lower().startswith(_SCHEMES):
        raise InvalidSchema(f"No connection adapters were found for {prepared.url!r}")
    return prepared.url


def _request_target(url):
    parts = urlsplit(url)
    target = parts.path or "/"
    if target.startswith("//"):
        target = "/" + target.lstrip("/")
    return f"{target}?{parts.query}" if parts.query else target


def _port(parts):
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _discard(raw, connection):
    """Let go of a response whose body is not wanted (a redirect, an error page, the rest of a
    body read far enough). A short rest is drained, raw and never decoded, with a brief socket
    timeout, so the connection is kept alive for the next request; anything longer, slower or
    of unknown length closes the connection instead."""
    if _drained(raw, connection):
        raw.release_conn()
    else:
        _close(raw)


def _close(raw):
    """Close the connection under `raw` and give its slot back to the pool."""
    raw.close()
    raw.release_conn()


def _drained(stream, connection):
    remaining = stream.length_remaining
    sock = getattr(connection, "sock", None)
    if remaining is None or remaining > REDIRECT_BODY_CAP or sock is None:
        return False
    try:
        sock.settimeout(DRAIN_TIMEOUT)  # urllib3 sets its own again before the next request
        # read to the empty read that tells the response it is over (the body has a length)
        give_up = time.monotonic() + DRAIN_TIMEOUT
        while stream.read1(READ_SIZE, decode_content=False):
            if time.monotonic() > give_up:
                return False  # a server dripping its error page is not worth the wait
        return True
    except Exception:  # a broken body is no reason to fail anything: the connection just goes
        return False


def retry_after_seconds(value):
    """Retry-After as seconds (it may be a number or an HTTP date), or None."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


# (marker in the client library's text, readable message, DomainError); first match wins.
# The library's own text (pool names, object reprs, errno numbers) is never shown to users.
# A connection cut before any HTTP answer counts as refused: nothing usable answered there.
_CONNECTION_PROBLEMS = (
    ("Name or service not known", "the host name does not resolve", DomainError.DNS),
    ("nodename nor servname", "the host name does not resolve", DomainError.DNS),
    ("No address associated", "the host name does not resolve", DomainError.DNS),
    ("Temporary failure in name resolution", "the host name could not be resolved now", DomainError.DNS),
    ("Failed to resolve", "the host name does not resolve", DomainError.DNS),
    ("Connection refused", "connection refused", DomainError.REFUSED),
    ("Network is unreachable", "the network is unreachable", DomainError.REFUSED),
    ("No route to host", "no route to host", DomainError.REFUSED),
    ("Host is unreachable", "no route to host", DomainError.REFUSED),
    ("Cannot assign requested address", "the address cannot be connected to", DomainError.REFUSED),
    ("Invalid argument", "the address cannot be connected to", DomainError.REFUSED),
    ("Address family not supported", "the address cannot be connected to", DomainError.REFUSED),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not valid", DomainError.TLS),
    ("SSL", "TLS handshake failed", DomainError.TLS),
    ("timed out", "connection timed out", DomainError.TIMEOUT),
    ("Connection reset", "connection reset by the server", DomainError.REFUSED),
    ("RemoteDisconnected", "the server closed the connection without answering", DomainError.REFUSED),
    ("Connection aborted", "the server closed the connection without answering", DomainError.REFUSED),
    ("BadStatusLine", "the server sent something that is not HTTP", DomainError.REFUSED),
    ("LineTooLong", "the server sent a header line too long to read", DomainError.REFUSED),
)


def _connection_problem(exc):
    text = str(exc)
    for marker, message, code in _CONNECTION_PROBLEMS:
        if marker in text:
            return message, code
    return "could not connect", DomainError.REFUSED


def _describe(exc):
    return _connection_problem(exc)[0]


class _Watch:
    """A request's wall-clock deadline: when it passes, the connection's socket is shut down,
    which wakes a read blocked on a server that drips bytes (it never trips the read timeout)."""

    def __init__(self, deadline, message, code=DomainError.TIMEOUT):
        self.message = message
        self.code = code
        self.timed_out = False
        self.connection = None
        self._deadline = watchdog.call_at(deadline, self._cut_off)

    @property
    def problem(self):
        return _SITEMAP_PROBLEMS[self.code]

    def attach(self, connection):
        self.connection = connection
        if self.timed_out:
            self._cut_off()

    def stop(self):
        self._deadline.cancel()

    def _cut_off(self):
        self.timed_out = True
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Body:
    """A response body as an iterator of byte chunks: transport codings undone (stacked ones
    in reverse order of application), gzip files inflated (recognised by their magic bytes,
    whatever the name or Content-Type says), and the decompressed size and the wall-clock
    time capped while reading, never after."""

    def __init__(self, response, max_bytes, watch, content_encoding="", read_timeout=0.0):
        self.response = response
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self.watch = watch
        self.content_encoding = content_encoding
        self.bytes_read = 0
        self.compressed = False
        self.closed = False
        self._ended = False

    def __iter__(self):
        chunks, coded = decode_content_codings(self._transport(), self.content_encoding, self._check_size)
        chunks, gzipped = inflate_gzip_file(chunks, self._check_size)
        self.compressed = coded or gzipped
        for data in chunks:
            room = self.max_bytes - self.bytes_read
            if len(data) > room:
                self.bytes_read = self.max_bytes
                if room:
                    yield data[:room]  # what fits is read: a capped file still gives its first URLs
                raise BodyError(cap_message(self.max_bytes), SitemapProblem.TOO_LARGE)
            self.bytes_read += len(data)
            if data:
                yield data

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self._ended:
            self.response.release_conn()  # read to its end: the connection is kept alive
        elif self.watch.timed_out:
            _close(self.response)
        else:
            _discard(self.response, self.watch.connection)
        self.watch.stop()

    def _transport(self):
        # read1: whatever has arrived, at most one system call, so bytes sent before a stall
        # are parsed rather than held in a buffer waiting for a full block
        read = self.response.read1
        while True:
            try:
                data = read(READ_SIZE, decode_content=False)
            except Exception as exc:  # urllib3 raises several types for a dropped or garbled stream
                if self.watch.timed_out:
                    raise BodyError(self.watch.message, self.watch.problem) from None
                if "timed out" in str(exc):
                    raise BodyError(f"no data for {self.read_timeout:g} s while reading", SitemapProblem.TIMEOUT) from None
                raise BodyError(f"connection broken while reading: {_describe(exc)}") from None
            if self.watch.timed_out:
                raise BodyError(self.watch.message, self.watch.problem)
            if not data:
                self._ended = True
                return
            yield data

    def _check_size(self, produced):
        # every intermediate layer of a stacked or doubly compressed body is bounded by the same cap
        if produced > self.max_bytes:
            raise BodyError(cap_message(self.max_bytes), SitemapProblem.TOO_LARGE)

