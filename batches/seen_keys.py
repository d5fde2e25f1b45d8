"""The URL keys of one domain's run, in memory that stays flat however big the domain.

Every chunk a run prepares is stored before the next is (or the run ends: lost, failed, handed
back, and the next attempt starts afresh), so a key prepared once in a run is a page the
domain has, or will have by the time a later chunk is written. Told each chunk's keys once, in
order, the filter sorts them out where the chunk is prepared (the parse-ahead helper), not on
the thread that waits for the database:

- up to EXACT_KEYS keys, a set answers exactly: a key seen before is a duplicate, dropped;
- past that, a Bloom filter of FILTER_BITS bits takes over (the set is dropped): a key it has
  not seen is certainly new; one it may have seen is left to the store, which asks the
  database about those few (their rows are there: earlier chunks were written first).

Until this, the storing thread tested and set the filter itself after each commit: about 3 of
its 7 CPU seconds on a 1,000,000-URL domain, while the database waited for it.
"""

# A set costs about 70 bytes a key (7 MB here); most domains never get past it.
EXACT_KEYS = 100_000
# 8 MB, two probes a key: false hits about 0.1% of the keys at 1,000,000 keys, 7% at 10,000,000.
FILTER_BITS = 1 << 26
_MASK = FILTER_BITS - 1


class SeenKeys:
    def __init__(self):
        self.exact = set()
        self.bits = None  # the Bloom filter, once the set has grown past EXACT_KEYS

    def sort_out(self, rows):
        """Take a chunk's rows ({key: row}, distinct keys) in: the keys seen before are deleted
        from `rows` when certain, and returned (still in `rows`) when the filter only may have
        seen them. Every key of `rows` counts as seen from now on."""
        if self.bits is None:
            seen = self.exact.intersection(rows)
            self.exact.update(rows)
            for key in seen:
                del rows[key]
            if len(self.exact) > EXACT_KEYS:
                self.bits = bytearray(FILTER_BITS >> 3)
                self._set(self.exact)
                self.exact = set()
            return set()
        return self._test_and_set(rows)

    def _test_and_set(self, keys):
        bits, maybe = self.bits, set()
        # Keys are blake2b digests, so their own bits are the two independent probes.
        for key in keys:
            low, high = key & _MASK, (key >> 32) & _MASK
            low_byte, low_bit, high_byte, high_bit = low >> 3, 1 << (low & 7), high >> 3, 1 << (high & 7)
            if bits[low_byte] & low_bit and bits[high_byte] & high_bit:
                maybe.add(key)
            else:
                bits[low_byte] |= low_bit
                bits[high_byte] |= high_bit
        return maybe

    def _set(self, keys):
        bits = self.bits
        for key in keys:
            low, high = key & _MASK, (key >> 32) & _MASK
            bits[low >> 3] |= 1 << (low & 7)
            bits[high >> 3] |= 1 << (high & 7)
