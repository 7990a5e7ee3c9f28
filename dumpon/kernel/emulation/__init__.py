"""The file-backed emulation of a FreeBSD kernel's dump configuration."""
