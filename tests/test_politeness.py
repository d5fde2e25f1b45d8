"""The host gate: per host:port concurrency and spacing, shared by every process, crash-safe."""

import threading
import time
import uuid

import pytest
import redis
from django.db import connection

from batches.models import HostSlot
from batches.politeness import DatabaseHostGate, DomainGate, RedisHostGate

pytestmark = pytest.mark.django_db(transaction=True)


def redis_available():
    try:
        return redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.RedisError:
        return False


@pytest.fixture(params=["database", "redis"])
def make_gate(request, settings):
    if request.param == "redis":
        if not redis_available():
            pytest.skip("no Redis on 127.0.0.1:6379")
        settings.REDIS_URL = "redis://127.0.0.1:6379/0"
        settings.Q_CLUSTER = dict(settings.Q_CLUSTER, name=f"test-{uuid.uuid4().hex}")
    gates = []

    def make(concurrency, delay, lease=30.0):
        gate_class = RedisHostGate if request.param == "redis" else DatabaseHostGate
        gate = gate_class(concurrency, delay, lease)
        gates.append(gate)
        return gate

    yield make
    for gate in gates:
        gate.close()


def run_requests(gate, host, count, hold):
    """`count` threads each take a slot for `hold` seconds; returns (start times, peak concurrency)."""
    starts, lock, state = [], threading.Lock(), {"now": 0, "peak": 0}

    def request():
        with gate.slot(host):
            with lock:
                starts.append(time.monotonic())
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(hold)
            with lock:
                state["now"] -= 1
        connection.close()

    threads = [threading.Thread(target=request) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(starts), state["peak"]


def assert_paced(starts, delay):
    """The k-th start comes at least k delays after the first. Measured from the first start,
    not between neighbours: a thread that wakes late from its wait shortens the next gap
    without the gate having let anything start early."""
    offsets = [start - starts[0] for start in starts]
    for k, offset in enumerate(offsets):
        assert offset >= k * delay - 0.03, offsets


def test_no_more_than_the_limit_of_requests_run_at_once_on_one_host(make_gate):
    starts, peak = run_requests(make_gate(concurrency=2, delay=0.0), "a.example:80", count=6, hold=0.3)
    assert len(starts) == 6
    assert peak == 2


def test_requests_to_one_host_start_at_least_the_delay_apart(make_gate):
    starts, _ = run_requests(make_gate(concurrency=4, delay=0.2), "b.example:80", count=4, hold=0.0)
    assert_paced(starts, delay=0.2)


def test_hosts_are_told_apart_by_name_and_port(make_gate):
    gate = make_gate(concurrency=1, delay=5.0)
    started = time.monotonic()
    for host in ("c.example:80", "c.example:8080", "d.example:80"):
        with gate.slot(host):
            pass
    assert time.monotonic() - started < 2.0


def test_two_gates_as_in_two_processes_share_the_limit(make_gate):
    first, second = make_gate(concurrency=1, delay=0.0), make_gate(concurrency=1, delay=0.0)
    inside = threading.Event()
    release = threading.Event()

    def hold():
        with first.slot("e.example:80"):
            inside.set()
            release.wait(5)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    started = time.monotonic()
    threading.Timer(0.5, release.set).start()
    with second.slot("e.example:80"):
        waited = time.monotonic() - started
    holder.join()
    assert waited >= 0.4


def test_a_slot_held_by_a_killed_worker_frees_itself_when_its_lease_runs_out(make_gate):
    dead = make_gate(concurrency=1, delay=0.0, lease=0.5)
    dead._acquire("f.example:80")  # taken and never released, as by a SIGKILLed process
    alive = make_gate(concurrency=1, delay=0.0, lease=0.5)
    started = time.monotonic()
    with alive.slot("f.example:80"):
        pass
    assert 0.3 <= time.monotonic() - started < 3.0


def test_a_retry_after_holds_every_request_to_the_host(make_gate):
    gate = make_gate(concurrency=2, delay=0.0)
    with gate.slot("g.example:80"):
        pass
    gate.back_off("g.example:80", 0.6)
    started = time.monotonic()
    with gate.slot("g.example:80"):
        pass
    assert time.monotonic() - started >= 0.5


def test_the_database_gate_keeps_one_row_per_host(make_gate, settings):
    if settings.REDIS_URL:
        pytest.skip("the Redis gate keeps no rows")
    gate = make_gate(concurrency=2, delay=0.0)
    for _ in range(3):
        with gate.slot("h.example:443"):
            pass
    slot = HostSlot.objects.get(host="h.example:443")
    assert slot.in_flight == 0


def test_a_domain_gate_holds_its_own_host_and_paces_it_without_the_shared_store(make_gate):
    shared = make_gate(concurrency=2, delay=0.2)
    gate = DomainGate(shared, {"own.example:80"})
    starts, peak = run_requests(gate, "own.example:80", count=6, hold=0.3)

    assert peak == 2
    assert_paced(starts, delay=0.2)
    assert list(gate.local) == ["own.example:80"]
    # While it is held, another crawl of the same host waits for the whole hold.
    other = make_gate(concurrency=2, delay=0.0)
    threading.Timer(0.5, gate.close).start()
    started = time.monotonic()
    with other.slot("own.example:80"):
        waited = time.monotonic() - started
    assert waited >= 0.4


def test_a_domain_gate_shares_a_host_another_crawl_is_using(make_gate):
    shared = make_gate(concurrency=1, delay=0.0)
    busy = threading.Event()
    release = threading.Event()

    def use():
        with make_gate(concurrency=1, delay=0.0).slot("shared.example:80"):
            busy.set()
            release.wait(5)
        connection.close()

    user = threading.Thread(target=use)
    user.start()
    busy.wait(5)
    gate = DomainGate(shared, {"shared.example:80"})
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with gate.slot("shared.example:80"):  # not held: it waits its turn in the shared gate
        waited = time.monotonic() - started
    user.join()
    assert waited >= 0.4
    assert gate.local == {}


def test_a_domain_gate_sends_other_hosts_and_retry_after_to_the_shared_store(make_gate):
    shared = make_gate(concurrency=2, delay=0.0)
    gate = DomainGate(shared, {"mine.example:80"})
    with gate.slot("mine.example:80"):
        pass
    gate.back_off("mine.example:80", 0.6)
    gate.close()
    other = make_gate(concurrency=2, delay=0.0)
    started = time.monotonic()
    with other.slot("mine.example:80"):  # another worker honours the Retry-After too
        pass
    assert time.monotonic() - started >= 0.5
