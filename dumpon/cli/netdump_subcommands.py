"""Imports every `netdump` subcommand module so that each registers itself on the app."""
