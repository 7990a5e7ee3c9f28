"""What the host's network looks like: interfaces, drivers, routes and neighbours.

One module per job. `interfaces` and `drivers` are cheap to import (netifaces, sysfs,
ctypes); `routes` and `neighbours` need pyroute2, which they import only when called
because its import alone costs ~150 ms.
"""
