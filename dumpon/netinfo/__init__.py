"""What the host's network looks like: interfaces, drivers, routes and neighbours.

One module per job. `interfaces` and `drivers` are cheap to import (netifaces, sysfs,
ctypes). Routes and neighbours come from pyroute2, whose import alone costs ~150 ms, so it
is imported inside the functions that ask: `routes` and `neighbours` (Linux, rtnetlink),
`routetable` (FreeBSD's routing and ARP tables). `names` keeps interface names as the
kernel does, bytes that need not be UTF-8.
"""
