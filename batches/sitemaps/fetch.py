"""HTTP for the engine: guarded connections, bounded retries, streamed and capped bodies."""

import socket
import threading
import time
import zlib
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests

from .guard import BlockedAddressError, WatchedAdapter, watching

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 64 * 1024
PIECE_SIZE = 256 * 1024  # the most one inflate step may produce: the bound on a bomb's burst
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A request that produced no usable response; the message is shown to users."""


class CannotConnect(FetchError):
    """Nothing answered at all (DNS, refused, TLS, connect timeout): worth a fallback origin."""


class Blocked(FetchError):
    """The address guard refused the host (or a redirect hop)."""


class BodyError(Exception):
    """The body stopped early (cap, deadline, truncated gzip); what was read before stays valid."""


@dataclass
class Response:
    url: str  # after redirects
    status: int
    content_type: str
    content_encoding: str
    elapsed_ms: int
    headers: dict
    body: "Body"

    @property
    def ok(self):
        return 200 <= self.status < 300

    def close(self):
        self.body.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Fetcher:
    """One per domain crawl; thread-safe for concurrent GETs of child sitemaps."""

    def __init__(self, config):
        self.config = config
        self.session = requests.Session()
        # Proxies and .netrc from the environment would bypass the address guard (the guard
        # would judge the proxy, not the site) or leak credentials to arbitrary hosts.
        self.session.trust_env = False
        self.session.headers.update({
            "User-Agent": config.user_agent,
            "Accept": "application/xml, text/xml, application/rss+xml, text/plain;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        })
        self.session.max_redirects = config.max_redirects
        adapter = WatchedAdapter(
            guarded=not config.allow_private_hosts, allowed_addresses=config.allowed_addresses,
            pool_connections=4, pool_maxsize=max(4, config.concurrency * 2), max_retries=0,
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self):
        self.session.close()

    def get(self, url, max_bytes, deadline=None, headers=None):
        """GET with bounded retries on 429/5xx; returns a Response whose body the caller must close."""
        attempt = 0
        while True:
            response = self._get_once(url, max_bytes, deadline, headers)
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

    def _get_once(self, url, max_bytes, deadline, headers=None):
        gate = self.config.host_gate
        if gate is None:
            return self._request(url, max_bytes, deadline, headers)
        with gate.slot(urlsplit(url).netloc.lower()):
            return self._request(url, max_bytes, deadline, headers)

    def _request(self, url, max_bytes, deadline, headers=None):
        started = time.monotonic()
        request_deadline = started + self.config.request_deadline
        if deadline is not None:
            request_deadline = min(request_deadline, deadline)
        if request_deadline < started + self.config.request_deadline:
            message = f"stopped at the domain time limit of {self.config.domain_deadline:g} s"
        else:
            message = f"download took longer than {self.config.request_deadline:g} s"
        watch = _Watch(request_deadline, message)
        timeout = (self.config.connect_timeout, self.config.read_timeout)
        try:
            with watching(watch):
                raw = self.session.get(url, stream=True, timeout=timeout, headers=headers)
        except BlockedAddressError as exc:
            watch.stop()
            raise Blocked(str(exc)) from None
        except requests.TooManyRedirects:
            watch.stop()
            raise FetchError(f"more than {self.config.max_redirects} redirects (or a redirect loop)") from None
        except requests.RequestException as exc:
            watch.stop()
            raise self._request_error(exc, watch) from None
        headers = raw.headers
        body = Body(raw, max_bytes, watch, headers.get("Content-Encoding", "").strip().lower(), self.config.read_timeout)
        return Response(
            url=raw.url,
            status=raw.status_code,
            content_type=headers.get("Content-Type", "").split(";")[0].strip().lower(),
            content_encoding=headers.get("Content-Encoding", "").strip().lower(),
            elapsed_ms=int((time.monotonic() - started) * 1000),
            headers=headers,
            body=body,
        )

    def _request_error(self, exc, watch):
        if watch.timed_out:
            return FetchError(watch.message)
        if isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.ConnectTimeout,
                            requests.exceptions.ConnectionError)):
            return CannotConnect(_describe(exc))
        if isinstance(exc, requests.exceptions.Timeout):
            return FetchError(f"no answer within {self.config.read_timeout:g} s")
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                            requests.exceptions.MissingSchema)):
            return FetchError(f"invalid URL: {exc}")
        return FetchError(_describe(exc))


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


def _describe(exc):
    text = str(exc)
    for marker, message in (
        ("Name or service not known", "the host name does not resolve"),
        ("nodename nor servname", "the host name does not resolve"),
        ("No address associated", "the host name does not resolve"),
        ("Temporary failure in name resolution", "the host name does not resolve"),
        ("Connection refused", "connection refused"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not valid"),
        ("SSL", "TLS handshake failed"),
        ("timed out", "connection timed out"),
        ("Connection reset", "connection reset by the server"),
        ("RemoteDisconnected", "the server closed the connection without answering"),
    ):
        if marker in text:
            return message
    return text[:300]


class _Watch:
    """A request's wall-clock deadline: when it passes, the connection's socket is shut down,
    which wakes a read blocked on a server that drips bytes (it never trips the read timeout)."""

    def __init__(self, deadline, message):
        self.message = message
        self.timed_out = False
        self.connection = None
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._cut_off)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, connection):
        self.connection = connection
        if self.timed_out:
            self._cut_off()

    def stop(self):
        self._timer.cancel()

    def _cut_off(self):
        self.timed_out = True
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Body:
    """A response body as an iterator of byte chunks: transport encoding undone, gzip files
    inflated (recognised by their magic bytes, whatever the name or Content-Type says), and
    the decompressed size and the wall-clock time capped while reading, never after."""

    def __init__(self, response, max_bytes, watch, content_encoding="", read_timeout=0.0):
        self.response = response
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self.watch = watch
        self.content_encoding = content_encoding
        self.bytes_read = 0
        self.compressed = False
        self.closed = False

    def __iter__(self):
        chunks = self._decode_transport(self._transport())
        first = next(chunks, b"")
        if first[:2] == GZIP_MAGIC:
            self.compressed = True
            chunks = _inflate(_chain_first(first, chunks), 16 + zlib.MAX_WBITS, self._check_size)
        else:
            chunks = _chain_first(first, chunks)
        for data in chunks:
            room = self.max_bytes - self.bytes_read
            if len(data) > room:
                self.bytes_read = self.max_bytes
                if room:
                    yield data[:room]  # what fits is read: a capped file still gives its first URLs
                raise BodyError(_cap_message(self.max_bytes))
            self.bytes_read += len(data)
            if data:
                yield data

    def close(self):
        if not self.closed:
            self.closed = True
            self.watch.stop()
            self.response.close()

    def _transport(self):
        # read1: whatever has arrived, at most one system call, so bytes sent before a stall
        # are parsed rather than held in a buffer waiting for a full block
        read = self.response.raw.read1
        while True:
            try:
                data = read(READ_SIZE, decode_content=False)
            except Exception as exc:  # urllib3 raises several types for a dropped or garbled stream
                if self.watch.timed_out:
                    raise BodyError(self.watch.message) from None
                if "timed out" in str(exc):
                    raise BodyError(f"no data for {self.read_timeout:g} s while reading") from None
                raise BodyError(f"connection broken while reading: {_describe(exc)}") from None
            if self.watch.timed_out:
                raise BodyError(self.watch.message)
            if not data:
                return
            yield data

    def _decode_transport(self, chunks):
        encoding = self.content_encoding
        if encoding in ("", "identity"):
            return chunks
        if encoding in ("gzip", "x-gzip", "deflate"):
            self.compressed = True
            return _decode_declared(chunks, encoding, self._check_size)
        raise BodyError(f"unsupported Content-Encoding {encoding!r}")

    def _check_size(self, produced):
        # the intermediate layer of a doubly compressed body is bounded by the same cap
        if produced > self.max_bytes:
            raise BodyError(_cap_message(self.max_bytes))

def _cap_message(limit):
    return f"larger than the {limit:,} byte limit (after decompression)"


def _chain_first(first, rest):
    yield first
    yield from rest


def _decode_declared(chunks, encoding, check_size):
    """Undo Content-Encoding. Servers get it wrong in both directions: a body declared gzip
    may be plain (passed through), and "deflate" may be zlib-wrapped or raw."""
    first = b""
    for first in chunks:
        if first:
            break
    if not first:
        return iter(())
    if encoding == "deflate":
        wbits = zlib.MAX_WBITS if (first[0] & 0x0F) == 8 and ((first[0] << 8) | first[1]) % 31 == 0 else -zlib.MAX_WBITS
    elif first[:2] == GZIP_MAGIC:
        wbits = 16 + zlib.MAX_WBITS
    else:
        return _chain_first(first, chunks)
    return _inflate(_chain_first(first, chunks), wbits, check_size)


def _inflate(chunks, wbits, check_size):
    """Inflate in steps of at most PIECE_SIZE output bytes, so a bomb is stopped at the size
    cap (checked by the caller between steps) with bounded memory. Concatenated gzip members
    are one file by the gzip format; bytes after the last member are ignored."""
    inflater = zlib.decompressobj(wbits)
    produced = 0
    for data in chunks:
        if inflater.eof:
            if wbits < 16 + zlib.MAX_WBITS or data[:2] != GZIP_MAGIC:
                continue
            inflater = zlib.decompressobj(wbits)
        while data:
            try:
                piece = inflater.decompress(data, PIECE_SIZE)
            except zlib.error as exc:
                raise BodyError(f"invalid compressed data: {exc}") from None
            produced += len(piece)
            check_size(produced)
            if piece:
                yield piece
            data = inflater.unconsumed_tail
            if inflater.eof:
                data = inflater.unused_data
                if data[:2] == GZIP_MAGIC and wbits == 16 + zlib.MAX_WBITS:
                    inflater = zlib.decompressobj(wbits)
                else:
                    break
    if not inflater.eof:
        raise BodyError("truncated gzip stream" if wbits > zlib.MAX_WBITS else "truncated deflate stream")
