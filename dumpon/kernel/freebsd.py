"""The real FreeBSD kernel: ioctl(2) on device nodes and sysctlbyname(3) through libc."""

from __future__ import annotations

from dumpon.errors import Exit, ToolError
from dumpon.kernel.base import Kernel


def open_freebsd_kernel() -> Kernel:
    raise ToolError("the freebsd backend is not implemented yet", Exit.UNAVAILABLE)
