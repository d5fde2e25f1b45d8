"""HTTP for the engine: guarded connections, bounded retries, streamed and capped bodies."""

import io
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .guard import BlockedAddressError, GuardedAdapter

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 64 * 1024
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A request that produced no usable response; the message is shown to users."""


class CannotConnect(FetchError):
    """Nothing answered at all (DNS, refused, TLS, connect timeout): worth a fallback origin."""


class BodyError(Exception):
    """The body stopped early (cap, deadline, truncated gzip); what was read before stays valid."""


@dataclass
class Response:
    url: str  # after redirects
    status: int
    content_type: str
    content_encoding: str
    elapsed_ms: int
    body: "BodyReader"

    @property
    def ok(self):
        return 200 <= self.status < 300

    def close(self):
        self.body.close()


class Fetcher:
    """One per domain crawl; thread-safe for concurrent GETs of child sitemaps."""

    def __init__(self, config):
        self.config = config
        self.session = requests.Session()
        self.session.headers.update({
            "User-Agent": config.user_agent,
            "Accept": "application/xml, text/xml, application/rss+xml, text/plain;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        })
        self.session.max_redirects = config.max_redirects
        adapter_class = HTTPAdapter if config.allow_private_hosts else GuardedAdapter
        adapter = adapter_class(pool_connections=4, pool_maxsize=max(4, config.concurrency * 2), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self):
        self.session.close()

    def get(self, url, max_bytes, deadline=None):
        """GET with bounded retries on 429/5xx; returns a Response whose body the caller must close."""
        attempt = 0
        while True:
            response = self._get_once(url, max_bytes, deadline)
            if response.status not in RETRY_STATUSES or attempt >= self.config.retries:
                return response
            delay = self._retry_delay(response, attempt)
            if deadline is not None and time.monotonic() + delay > deadline:
                return response
            response.close()
            time.sleep(delay)
            attempt += 1

    def _retry_delay(self, response, attempt):
        retry_after = response.body.headers.get("Retry-After", "")
        if retry_after.strip().isdigit():
            return min(float(retry_after), self.config.max_retry_after)
        return self.config.retry_backoff * (2**attempt)

    def _get_once(self, url, max_bytes, deadline):
        gate = self.config.host_gate
        if gate is None:
            return self._request(url, max_bytes, deadline)
        with gate.slot(urlsplit(url).netloc.lower()):
            return self._request(url, max_bytes, deadline)

    def _request(self, url, max_bytes, deadline):
        started = time.monotonic()
        timeout = (self.config.connect_timeout, self.config.read_timeout)
        try:
            raw = self.session.get(url, stream=True, timeout=timeout)
        except BlockedAddressError as exc:
            raise FetchError(str(exc)) from None
        except requests.TooManyRedirects:
            raise FetchError(f"more than {self.config.max_redirects} redirects (or a redirect loop)") from None
        except (requests.exceptions.SSLError, requests.exceptions.ConnectTimeout) as exc:
            raise CannotConnect(_describe(exc)) from None
        except requests.exceptions.ConnectionError as exc:
            raise CannotConnect(_describe(exc)) from None
        except requests.exceptions.Timeout:
            raise FetchError(f"no answer within {self.config.read_timeout:g} s") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                requests.exceptions.MissingSchema) as exc:
            raise FetchError(f"invalid URL: {exc}") from None
        except requests.RequestException as exc:
            raise FetchError(_describe(exc)) from None
        elapsed_ms = int((time.monotonic() - started) * 1000)
        request_deadline = started + self.config.request_deadline
        if deadline is not None:
            request_deadline = min(request_deadline, deadline)
        body = BodyReader(raw, max_bytes, request_deadline, self.config.request_deadline)
        return Response(
            url=raw.url,
            status=raw.status_code,
            content_type=raw.headers.get("Content-Type", "").split(";")[0].strip().lower(),
            content_encoding=raw.headers.get("Content-Encoding", "").lower(),
            elapsed_ms=elapsed_ms,
            body=body,
        )


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


class BodyReader(io.RawIOBase):
    """A response body as a file: transport encoding undone by urllib3, gzip files inflated
    (recognised by their magic bytes, whatever the name or Content-Type says), and both the
    decompressed size and the wall-clock time capped while reading."""

    def __init__(self, response, max_bytes, deadline, deadline_seconds):
        super().__init__()
        self.response = response
        self.headers = response.headers
        self.max_bytes = max_bytes
        self.deadline_seconds = deadline_seconds
        self.bytes_read = 0
        self.compressed = False
        self._chunks = response.raw.stream(READ_SIZE, decode_content=True)
        self._pending = b""
        self._inflater = None
        self._sniffed = False
        self._done = False
        self._watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), self._cut_off)
        self._watchdog.daemon = True
        self._timed_out = False
        self._watchdog.start()

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._next_bytes(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self):
        if not self.closed:
            self._watchdog.cancel()
            self.response.close()
        super().close()

    def _cut_off(self):
        # A server that drips one byte at a time never trips the read timeout; shutting the
        # socket down from this timer thread wakes the blocked read.
        self._timed_out = True
        sock = getattr(getattr(self.response.raw, "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _next_bytes(self, size):
        while not self._pending and not self._done:
            self._pending = self._produce()
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def _produce(self):
        raw = self._read_transport()
        if raw is None:
            self._done = True
            return self._finish_inflate()
        if not self._sniffed:
            self._sniffed = True
            if raw[:2] == GZIP_MAGIC:
                self.compressed = True
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return self._inflate(raw) if self._inflater else self._count(raw)

    def _read_transport(self):
        try:
            raw = next(self._chunks, None)
        except Exception as exc:  # urllib3 raises several types for a dropped or garbled stream
            if self._timed_out:
                raise BodyError(f"download took longer than {self.deadline_seconds:g} s") from None
            raise BodyError(f"connection broken while reading: {_describe(exc)}") from None
        if self._timed_out:
            raise BodyError(f"download took longer than {self.deadline_seconds:g} s")
        return raw

    def _inflate(self, raw):
        out = []
        data = raw
        while data:
            try:
                # max_length bounds each step, so a gzip bomb is stopped at the cap, not after it
                piece = self._inflater.decompress(data, READ_SIZE * 4)
            except zlib.error as exc:
                raise BodyError(f"invalid gzip data: {exc}") from None
            out.append(self._count(piece))
            data = self._inflater.unconsumed_tail
            if self._inflater.eof and self._inflater.unused_data:
                # concatenated gzip members are one file by the gzip format
                rest = self._inflater.unused_data
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = rest if rest[:2] == GZIP_MAGIC else b""
        return b"".join(out) if len(out) != 1 else out[0]

    def _finish_inflate(self):
        if self._inflater and not self._inflater.eof:
            raise BodyError("truncated gzip stream")
        return b""

    def _count(self, data):
        self.bytes_read += len(data)
        if self.bytes_read > self.max_bytes:
            raise BodyError(f"larger than the {self.max_bytes:,} byte limit (after decompression)")
        return data
