"""What Python's cyclic garbage collector has to look at in a process that stores URLs."""

import gc


def freeze_loaded():
    """Put every object alive now (Django's models and settings, the engine's tables, the
    modules) out of the collector's sight for good. A big domain allocates millions of records,
    and each full collection walked all of those objects again: 1,000,000 URLs through the
    worker took 20.3 CPU s with them in sight and 16.5 s frozen (README, "Storing a big
    domain"). Before a fork it also keeps their pages shared with the worker processes."""
    gc.collect()
    gc.freeze()
