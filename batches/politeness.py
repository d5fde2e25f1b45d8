"""Politeness across worker processes and machines.

Per "host:port" (not per IP address: thousands of unrelated sites share one CDN address), at
most SITEMAPS_HOST_CONCURRENCY requests run at once and their starts are at least
SITEMAPS_HOST_DELAY seconds apart. The bookkeeping lives where every worker sees it: Redis
when REDIS_URL is set, otherwise the HostSlot table. The engine enters `gate.slot(host)` around
every request (CrawlConfig.host_gate).

A domain's crawl asks mostly its own host. `DomainGate` holds that host in the shared store
once, for the whole crawl (every slot of it: other crawls wait), and paces its requests in
memory, so they cost no shared round trip each. Other hosts (a CDN serving the sitemaps), and
an own host that another crawl is using, go through the shared gate request by request. A
Retry-After always reaches the shared store, so every worker backs off.
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


def hold_lease():
    """A crawl's hold on its host lasts as long as a claim without heartbeat (see DomainGate)."""
    return settings.SITEMAPS_STALE_AFTER


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

    def hold(self, host):
        """Take every slot of `host` for one crawl (until `release`, or until HOLD_LEASE passes
        without `extend`: a killed worker's hold frees itself soon); False when someone uses it."""
        return bool(self._safely(self._hold, host))

    def extend(self, hosts):
        """Renew the holds on `hosts` (the heartbeat does, for every crawl of the process)."""
        if hosts:
            self._safely(self._extend, list(hosts))

    def release(self, host):
        self._safely(self._release_hold, host)

    def _hold(self, host):
        return False

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

    def _hold(self, host):
        # One statement: a host seen for the first time gets its row already held; a known one
        # is taken only when nothing is in flight there or the holder's lease ran out.
        now = self._value(timezone.now())
        held, _ = self._execute(
            f"INSERT INTO {self.table} AS slot (host, next_request_at, in_flight, lease_until, updated_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (host) DO UPDATE SET in_flight = excluded.in_flight, "
            "lease_until = excluded.lease_until, updated_at = excluded.updated_at "
            "WHERE slot.in_flight = 0 OR slot.lease_until < %s",
            [host, now, self.concurrency, self._value(timezone.now() + timedelta(seconds=hold_lease())), now, now],
        )
        return held == 1

    def _extend(self, hosts):
        until = timezone.now() + timedelta(seconds=hold_lease())
        self._execute(f"UPDATE {self.table} SET lease_until = %s WHERE host IN ({', '.join(['%s'] * len(hosts))}) "
                      "AND lease_until < %s", [self._value(until), *hosts, self._value(until)])

    def _release_hold(self, host):
        self._execute(f"UPDATE {self.table} SET in_flight = CASE WHEN in_flight > %s THEN in_flight - %s ELSE 0 END "
                      "WHERE host = %s", [self.concurrency, self.concurrency, host])

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

# A hold is `concurrency` leases of one token, taken only when no lease is live; extending
# rescores them (Redis's clock again).
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[4] == 'hold' and redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
for i = 1, tonumber(ARGV[2]) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1] .. ':' .. i)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class RedisHostGate(HostGate):
    def __init__(self, concurrency, delay, lease):
        import redis

        super().__init__(concurrency, delay, lease)
        self.redis = redis.Redis.from_url(settings.REDIS_URL)
        self.acquire_script = self.redis.register_script(_ACQUIRE)
        self.push_back_script = self.redis.register_script(_PUSH_BACK)
        self.hold_script = self.redis.register_script(_HOLD)
        self.holds = {}  # host -> token of our hold
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

    def _hold(self, host):
        token = uuid.uuid4().hex
        if not int(self.hold_script(keys=self._keys(host)[:1],
                                    args=[token, self.concurrency, int(hold_lease() * 1000), "hold"])):
            return False
        self.holds[host] = token
        return True

    def _extend(self, hosts):
        for host in hosts:
            if host in self.holds:
                self.hold_script(keys=self._keys(host)[:1],
                                 args=[self.holds[host], self.concurrency, int(hold_lease() * 1000), "extend"])

    def _release_hold(self, host):
        token = self.holds.pop(host, None)
        if token:
            self.redis.zrem(self._keys(host)[0], *[f"{token}:{i}" for i in range(1, self.concurrency + 1)])



class DomainGate:
    """The gate one domain's crawl uses (see the module's docstring); `own_hosts` are the
    "host:port" keys of the domain itself and of its www. twin."""

    def __init__(self, shared, own_hosts):
        self.shared = shared
        self.own_hosts = frozenset(own_hosts)
        self.lock = threading.Lock()
        self.local = {}  # held host -> _LocalSlot
        self.refused = set()  # own hosts someone else was using: shared gate per request

    @contextmanager
    def slot(self, host):
        local = self._local(host)
        if local is None:
            with self.shared.slot(host):
                yield
            return
        with local.slot():
            yield
        if local.extend_due():
            self.shared.extend([host])

    def back_off(self, host, seconds):
        local = self.local.get(host)
        if local is not None:
            local.back_off(seconds)
        self.shared.back_off(host, seconds)

    def held(self):
        return list(self.local)

    def close(self):
        """Give the held hosts back to the shared store."""
        with self.lock:
            held, self.local = list(self.local), {}
        for host in held:
            self.shared.release(host)

    def _local(self, host):
        if host not in self.own_hosts:
            return None
        with self.lock:
            if host in self.local or host in self.refused:
                return self.local.get(host)
            if self.shared.hold(host):
                self.local[host] = _LocalSlot(self.shared.concurrency, self.shared.delay, hold_lease())
            else:
                self.refused.add(host)
            return self.local.get(host)


class _LocalSlot:
    """A held host's pacing, in memory: the shared gate's rules for one process's crawl."""

    def __init__(self, concurrency, delay, lease):
        self.running = threading.BoundedSemaphore(concurrency)
        self.delay = delay
        self.lock = threading.Lock()
        self.next_start = 0.0
        self.extend_every = lease / 3
        self.next_extend = time.monotonic() + self.extend_every

    @contextmanager
    def slot(self):
        with self.running:
            with self.lock:
                now = time.monotonic()
                start = max(now, self.next_start)
                self.next_start = start + self.delay
            if start > now:
                time.sleep(start - now)
            yield

    def back_off(self, seconds):
        with self.lock:
            self.next_start = max(self.next_start, time.monotonic() + seconds)

    def extend_due(self):
        now = time.monotonic()
        if now < self.next_extend:
            return False
        self.next_extend = now + self.extend_every
        return True

