"""Politeness across worker processes and machines.

Per "host:port" (not per IP address: thousands of unrelated sites share one CDN address), at
most SITEMAPS_HOST_CONCURRENCY requests run at once and their starts are at least
SITEMAPS_HOST_DELAY seconds apart. The bookkeeping lives where every worker sees it: Redis
when REDIS_URL is set, otherwise the HostSlot table. The engine enters `gate.slot(host)` around
every request (CrawlConfig.host_gate).
"""

import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta, timezone as dt_timezone

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import HostSlot

log = logging.getLogger(__name__)
FULL_WAIT = 0.05  # how often a request waiting for a free slot looks again
_gate = None


def host_gate():
    """This process's gate, built from settings; None when politeness is turned off."""
    global _gate
    if settings.SITEMAPS_HOST_CONCURRENCY <= 0:
        return None
    # A worker forked from a process that had a gate must not share its connection.
    if _gate is None or _gate.pid != os.getpid():
        gate_class = RedisHostGate if settings.REDIS_URL else DatabaseHostGate
        _gate = gate_class(settings.SITEMAPS_HOST_CONCURRENCY, settings.SITEMAPS_HOST_DELAY, lease_seconds())
    return _gate


def lease_seconds():
    """No request outlives this, so a slot held longer belongs to a worker that died."""
    return settings.SITEMAPS_CONNECT_TIMEOUT + settings.SITEMAPS_REQUEST_DEADLINE + 10


class HostGate:
    def __init__(self, concurrency, delay, lease):
        self.concurrency = concurrency
        self.delay = delay
        self.lease = lease
        self.pid = os.getpid()

    @contextmanager
    def slot(self, host):
        token = self._acquire(host)
        try:
            yield
        finally:
            if token:
                self._safely(self._release, host, token)

    def back_off(self, host, seconds):
        """Hold every request to `host` for `seconds` (a 429 or 503 with Retry-After)."""
        self._safely(self._push_back, host, seconds)

    def _acquire(self, host):
        token = uuid.uuid4().hex
        while True:
            wait = self._safely(self._try, host, token)
            if wait is None:
                return None  # the store is unreachable: crawl on without it rather than hang
            if wait <= 0:
                return token
            time.sleep(min(wait, 1.0))

    def close(self):
        """Let go of any connection; the next request opens one again."""
        self._reset()

    def _safely(self, function, *args):
        try:
            return function(*args)
        except Exception:
            log.warning("host gate unavailable", exc_info=True)
            self._reset()
            return None

    def _reset(self):
        pass


class DatabaseHostGate(HostGate):
    """HostSlot rows through one connection of its own, shared by the crawl's threads."""

    def __init__(self, concurrency, delay, lease):
        super().__init__(concurrency, delay, lease)
        self.lock = threading.Lock()
        self.db = connections.create_connection("default")
        self.db.inc_thread_sharing()
        self.table = HostSlot._meta.db_table

    def _execute(self, sql, params):
        with self.lock, self.db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount, (cursor.fetchone() if sql.lstrip().startswith("SELECT") else None)

    def _value(self, moment):
        return self.db.ops.adapt_datetimefield_value(moment)

    def _try(self, host, token):
        """0 when a slot was taken, else seconds to wait."""
        now = timezone.now()
        taken, _ = self._execute(
            f"UPDATE {self.table} SET in_flight = CASE WHEN lease_until < %s THEN 1 ELSE in_flight + 1 END, "
            "next_request_at = %s, lease_until = %s, updated_at = %s "
            "WHERE host = %s AND next_request_at <= %s AND (in_flight < %s OR lease_until < %s)",
            [self._value(now), self._value(now + timedelta(seconds=self.delay)),
             self._value(now + timedelta(seconds=self.lease)), self._value(now), host, self._value(now),
             self.concurrency, self._value(now)],
        )
        if taken:
            return 0
        _, row = self._execute(f"SELECT next_request_at FROM {self.table} WHERE host = %s", [host])
        if row is None:
            self._execute(
                f"INSERT INTO {self.table} (host, next_request_at, in_flight, lease_until, updated_at) "
                "VALUES (%s, %s, 0, %s, %s) ON CONFLICT (host) DO NOTHING",
                [host, self._value(now), self._value(now), self._value(now)],
            )
            return FULL_WAIT / 10
        next_at = row[0] if not isinstance(row[0], str) else parse_datetime(row[0])
        if timezone.is_naive(next_at):
            next_at = timezone.make_aware(next_at, dt_timezone.utc)
        return max((next_at - now).total_seconds(), FULL_WAIT)

    def _release(self, host, token):
        self._execute(f"UPDATE {self.table} SET in_flight = in_flight - 1 WHERE host = %s AND in_flight > 0", [host])

    def _push_back(self, host, seconds):
        until = self._value(timezone.now() + timedelta(seconds=seconds))
        self._execute(f"UPDATE {self.table} SET next_request_at = %s WHERE host = %s AND next_request_at < %s",
                      [until, host, until])

    def _reset(self):
        with self.lock:
            self.db.close()  # reconnects on the next use


# Leases are members of a sorted set scored by their expiry, so a slot held by a dead worker
# frees itself; the clock is Redis's own, the same for every machine.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local next_at = tonumber(redis.call('GET', KEYS[2]) or '0')
if next_at > now then return next_at - now end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('SET', KEYS[2], now + tonumber(ARGV[3]), 'PX', tonumber(ARGV[3]) + 1000)
return 0
"""
_PUSH_BACK = """
local t = redis.call('TIME')
local until_at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') < until_at then
  redis.call('SET', KEYS[1], until_at, 'PX', tonumber(ARGV[1]) + 1000)
end
return 0
"""


class RedisHostGate(HostGate):
    def __init__(self, concurrency, delay, lease):
        import redis

        super().__init__(concurrency, delay, lease)
        self.redis = redis.Redis.from_url(settings.REDIS_URL)
        self.acquire_script = self.redis.register_script(_ACQUIRE)
        self.push_back_script = self.redis.register_script(_PUSH_BACK)
        self.prefix = f"{settings.Q_CLUSTER['name']}:host:"

    def _keys(self, host):
        return [self.prefix + host + ":leases", self.prefix + host + ":next"]

    def _try(self, host, token):
        answer = int(self.acquire_script(
            keys=self._keys(host),
            args=[token, self.concurrency, int(self.delay * 1000), int(self.lease * 1000)],
        ))
        if answer == 0:
            return 0
        return FULL_WAIT if answer < 0 else answer / 1000

    def _release(self, host, token):
        self.redis.zrem(self._keys(host)[0], token)

    def _push_back(self, host, seconds):
        self.push_back_script(keys=self._keys(host)[1:], args=[int(seconds * 1000)])

