"""dumpon: a FreeBSD netdump toolkit (dumpon(8), netdump tools, netdumpd, decryptcore)."""

__version__ = "0.1.0"
