"""The keys a DomainStore remembers: never a miss for a key it wrote, few false hits, flat memory."""

import random

from batches.written_keys import EXACT_KEYS, FILTER_BITS, WrittenKeys


def keys(count, seed):
    rng = random.Random(seed)
    return [rng.getrandbits(64) - (1 << 63) for _ in range(count)]  # signed, like url_key


def test_it_answers_exactly_while_it_holds_few_keys():
    written = WrittenKeys()
    written.add([1, 2, 3])
    assert written.certain
    assert written.among([2, 3, 4]) == {2, 3}


def test_past_its_exact_bound_it_still_finds_every_key_written_in_a_fixed_filter():
    written, stored = WrittenKeys(), keys(EXACT_KEYS + 150_000, seed=1)
    for position in range(0, len(stored), 10_000):  # chunk by chunk, as the store adds them
        written.add(stored[position:position + 10_000])
    assert not written.certain
    assert (written.exact, len(written.bits)) == (set(), FILTER_BITS // 8)
    assert written.among(stored) == set(stored)
    others = keys(100_000, seed=2)
    # 250,000 keys in 2**26 bits with two probes: about 4 false hits in 100,000 expected.
    assert len(written.among(others)) < 50
