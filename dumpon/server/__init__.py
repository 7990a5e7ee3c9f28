"""netdumpd: a netdump server compatible with FreeBSD's netdumpd (ports: ftp/netdumpd).

The wire protocol lives in `dumpon.protocol`; this package adds the server's I/O: sockets,
files beneath the dump directory, host names, the handler script and the daemon around them.
"""
