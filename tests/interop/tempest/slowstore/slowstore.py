"""A glance_store file store that takes its time to store an image.

Tempest's copy-image and multi-store import tests upload 1 KiB, which a
local file store copies in milliseconds, before Tempest's first look at
the image: whether a proxy serves that first look to Tempest again after
the copy is done then depends on the machine's timing. A real second store
(Ceph, Swift, another site) takes seconds to minutes; this one takes
INTEROP_SLOW_STORE_SECONDS (default 3) before each image it stores, so an
import into it is always still running when Tempest first looks.

Registered as the glance_store driver `slowfile` by the dist-info beside
this file (tests/interop/tempest/stack.sh puts this directory on Glance's
PYTHONPATH and names it in enabled_backends).
"""

import os
import time

from glance_store._drivers import filesystem

DELAY = float(os.environ.get("INTEROP_SLOW_STORE_SECONDS", "3"))

# glance_store finds a driver's location class in the driver's module.
StoreLocation = filesystem.StoreLocation


class Store(filesystem.Store):
    """filesystem.Store, DELAY seconds slower to add an image."""

    def get_schemes(self):
        # glance_store looks a store up by its driver name as a URI scheme.
        return tuple(super().get_schemes()) + ("slowfile",)

    def add(self, *args, **kwargs):
        time.sleep(DELAY)
        return super().add(*args, **kwargs)
