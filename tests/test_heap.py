"""The objects a worker has loaded are frozen out of the garbage collector's sight."""

import gc

from batches.heap import freeze_loaded


def test_it_freezes_what_is_loaded_and_leaves_the_collector_on():
    gc.unfreeze()
    try:
        marker = {"loaded": "before the freeze"}
        freeze_loaded()
        assert gc.get_freeze_count() > 1000  # the interpreter, Django and the app at least
        assert gc.isenabled()
        assert not any(obj is marker for obj in gc.get_objects())  # frozen objects are out of sight
    finally:
        gc.unfreeze()
