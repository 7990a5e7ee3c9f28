"""Imports every `netdump` subcommand module so that each registers itself on the app."""

from dumpon.cli import (
    netdump_check,  # noqa: F401
    netdump_interfaces,  # noqa: F401
    netdump_keygen,  # noqa: F401
    netdump_route,  # noqa: F401
    netdump_send,  # noqa: F401
)
