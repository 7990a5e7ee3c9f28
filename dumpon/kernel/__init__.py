"""Kernel backends: the real FreeBSD ioctl/sysctl interface and a file-backed emulation."""
