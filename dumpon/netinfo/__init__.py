"""What the host's network looks like: interfaces, drivers, routes and neighbours.

One module per job. `interfaces` and `drivers` are cheap to import (netifaces, sysfs,
ctypes); `routes` and `neighbours` speak rtnetlink (Linux) through the small `rtnl` codec
rather than pyroute2, whose import alone costs ~130 ms.
"""
