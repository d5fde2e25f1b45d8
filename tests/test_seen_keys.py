"""The keys of a domain's run: a duplicate never taken for new, few new keys taken for
possible duplicates, flat memory."""

import random

from batches.seen_keys import EXACT_KEYS, FILTER_BITS, SeenKeys


def keys(count, seed):
    rng = random.Random(seed)
    return [rng.getrandbits(64) - (1 << 63) for _ in range(count)]  # signed, like url_key


def rows(some_keys):
    return {key: f"record {key}" for key in some_keys}


def test_while_it_holds_few_keys_it_drops_the_duplicates_itself():
    seen = SeenKeys()
    assert seen.sort_out(rows([1, 2, 3])) == set()
    chunk = rows([4, 2, 5, 3])
    assert seen.sort_out(chunk) == set()
    assert chunk == {4: "record 4", 5: "record 5"}
    assert (seen.exact, seen.bits) == ({1, 2, 3, 4, 5}, None)


def test_past_its_exact_bound_every_key_seen_is_among_the_maybes_in_a_fixed_filter():
    seen, earlier = SeenKeys(), keys(EXACT_KEYS + 150_000, seed=1)
    false_hits = set()
    for position in range(0, len(earlier), 10_000):  # chunk by chunk, as the store prepares them
        false_hits |= seen.sort_out(rows(earlier[position:position + 10_000]))
    assert len(false_hits) < 50  # distinct keys: every hit is false, and few are
    assert (seen.exact, len(seen.bits)) == (set(), FILTER_BITS // 8)
    again = rows(earlier[::7])
    assert seen.sort_out(again) == set(earlier[::7])
    assert len(again) == len(earlier[::7])  # kept: the store asks the database about them
    # 250,000 keys in 2**26 bits with two probes: about 4 false hits in 100,000 expected.
    assert len(seen.sort_out(rows(keys(100_000, seed=2)))) < 50


def test_a_key_new_to_the_filter_counts_as_seen_for_the_next_chunk():
    seen = SeenKeys()
    seen.sort_out(rows(keys(EXACT_KEYS + 1, seed=3)))  # past the bound: the filter from now on
    fresh = rows(keys(1_000, seed=4))
    assert len(seen.sort_out(fresh)) < 5 and len(fresh) == 1_000
    assert seen.sort_out(rows(fresh)) == set(fresh)
