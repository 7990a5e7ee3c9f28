"""Command-line front ends: thin layers over the library, one module per command."""
