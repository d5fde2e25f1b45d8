"""The URL keys one DomainStore has written, in memory that stays flat however big the domain.

A fresh domain's rows are all its store's own writes, so a key the store never wrote is new
without asking the database. The store asks only about the keys it may have written:

- up to EXACT_KEYS keys, a set answers exactly (a hit is a duplicate, no question asked);
- past that, a Bloom filter of FILTER_BITS bits takes the keys over (the set is dropped): a miss
  is still certain, a hit may be false and goes to the database with the rest of the hits.

Until this, the store remembered 250,000 keys and then asked the database about every key of
every chunk; on PostgreSQL that query fetched each key's heap row (10,000 random page reads per
chunk), which made a 1,000,000-URL domain spend most of its server time answering it.
"""

# A set costs about 70 bytes a key (7 MB here); most domains never get past it.
EXACT_KEYS = 100_000
# 8 MB, two probes a key: false hits about 0.1% of the keys at 1,000,000 keys, 7% at 10,000,000.
FILTER_BITS = 1 << 26
_MASK = FILTER_BITS - 1


class WrittenKeys:
    def __init__(self):
        self.exact = set()
        self.bits = None  # the Bloom filter, once the set has grown past EXACT_KEYS

    @property
    def certain(self):
        """Whether a hit of `among` is certainly a key written (no false hits yet)."""
        return self.bits is None

    def add(self, keys):
        if self.bits is None:
            self.exact.update(keys)
            if len(self.exact) > EXACT_KEYS:
                self.bits = bytearray(FILTER_BITS >> 3)
                self._set(self.exact)
                self.exact = set()
        else:
            self._set(keys)

    def among(self, keys):
        """The keys of `keys` that may have been written: every one that was, and while the
        filter is in use a few that were not."""
        if self.bits is None:
            return self.exact.intersection(keys)
        bits, hits = self.bits, set()
        # Keys are blake2b digests, so their own bits are the two independent probes.
        for key in keys:
            low, high = key & _MASK, (key >> 32) & _MASK
            if bits[low >> 3] >> (low & 7) & 1 and bits[high >> 3] >> (high & 7) & 1:
                hits.add(key)
        return hits

    def _set(self, keys):
        bits = self.bits
        for key in keys:
            low, high = key & _MASK, (key >> 32) & _MASK
            bits[low >> 3] |= 1 << (low & 7)
            bits[high >> 3] |= 1 << (high & 7)
