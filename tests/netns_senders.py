"""Many dumps at once from one process, one sender thread each (cheaper than one process
each on a 2-CPU machine):

    python -m tests.netns_senders SERVER CLIENT FILE...

Dump i carries the header hostname `sender<i>`.  Prints one line per failure; exits 1 if any.
"""

from __future__ import annotations

import sys
import threading

from dumpon.dumpsource import DumpSpec, prepare
from dumpon.errors import ToolError
from dumpon.protocol.client import ClientMachine, Tunables
from dumpon.sender import Endpoints, send


def main() -> int:
    server, client, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    failures: list[str] = []

    def one(index: int, path: str) -> None:
        try:
            dump = prepare(DumpSpec(path, hostname=f"sender{index}"))
            # resend after 100 ms, give up after 3 s
            machine = ClientMachine(payload=1448, tunables=Tunables(polls=200, retries=30))
            send(machine, dump, Endpoints(server, client, None, 0))
        except ToolError as exc:
            failures.append(f"sender{index}: {exc.message}")

    threads = [threading.Thread(target=one, args=(index, path)) for index, path in enumerate(files)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
