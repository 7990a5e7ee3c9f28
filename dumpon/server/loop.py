"""The event loop: one thread, one selector over the herald socket and every dump socket.

Per readiness event a dump socket is drained (up to a batch, so one fast client cannot
starve the others), ACK_EVERY datagrams at a time: on Linux with one recvmmsg(2) into
fixed slots of one receive buffer, elsewhere with one recv() each.  The payloads of
consecutive new body messages are written with one pwritev() straight from the buffer,
and only then are the ACKs for them sent (one sendmmsg(2) on Linux).  That happens every
ACK_EVERY datagrams, not only at the end of a batch: a client waits for the ACKs of its
whole batch, and ACKs that come while it is still sending let it and the server work at
the same time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from dumpon.errors import os_error_text
from dumpon.protocol.session import Finished, ServerSession, parse_herald
from dumpon.protocol.wire import HEADER_SIZE, WireError, pack_ack
from dumpon.server import beneath, mmsg, sockets
from dumpon.server.config import ServerConfig
from dumpon.server.dump import Dump, DumpFailed, Place
from dumpon.server.handler import HandlerRunner
from dumpon.server.names import host_label
from dumpon.server.resolver import Resolver
from dumpon.server.slots import NoFreeIndex

log = logging.getLogger("netdumpd")

# Datagrams read from one dump socket before the loop turns to the others.
BATCH = 64
# Datagrams whose data is written and ACKed together within a batch.
ACK_EVERY = 16
# Bytes of datagrams received before their data is written and ACKed within a batch.
FILL_BYTES = 32 * 1024
# A HERALD from a client whose dump has data is normally a new dump (the old one failed on
# the client), but one that arrives this soon after the first is a delayed copy: a client
# that resends its HERALD because our ACK was slow may get the first ACK and start sending
# before the copy arrives.  A kernel needs longer than this to give up and start again.
HERALD_REPEAT_WINDOW = 1.0
# After FINISHED the dump's socket stays open this long, ACKing repeats of FINISHED: a
# client whose ACK was lost (or merely late) would otherwise resend into a closed port and
# conclude that the dump failed.  A kernel gives up on FINISHED after ~12 s (11 resends).
FINISHED_LINGER = 12.0
# Longest sleep of the loop: timeouts and handler time limits are checked this often.
TICK = 1.0


@dataclass(frozen=True, slots=True)
class _Herald:
    data: bytes
    source: tuple[str, int]
    destination: str


class Server:
    """Serves dumps until `stop` is called (from a signal handler or another thread)."""

    def __init__(
        self,
        config: ServerConfig,
        root_fd: int,
        herald: socket.socket,
        handler: HandlerRunner | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._root_fd = root_fd
        self._herald = herald
        self._handler = handler
        self._clock = clock
        self._dumps: dict[tuple[str, int], Dump] = {}
        self._by_fd: dict[int, Dump] = {}
        self._name_deadline: dict[tuple[str, int], float] = {}
        # finished dumps by socket descriptor, with the time their socket closes
        self._lingering: dict[int, tuple[Dump, float]] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._resolver = Resolver(self.wake)
        # one more byte than the largest message, so a longer one shows as such
        self._room = HEADER_SIZE + config.max_payload + 1
        self._buffer = bytearray(max(FILL_BYTES + self._room, ACK_EVERY * self._room))
        self._batcher = mmsg.batcher(self._buffer, self._room, ACK_EVERY)
        self._receive = self._receive_each if self._batcher is None else self._receive_batched
        self._stopping = False
        self._selector.register(herald, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)

    @property
    def wake_fd(self) -> int:
        """A descriptor that wakes the loop when written (signal.set_wakeup_fd)."""
        return self._wake_w.fileno()

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    @property
    def dumps(self) -> int:
        return len(self._dumps)

    def named(self) -> bool:
        """Whether every dump in progress has its files (for tests and tools)."""
        return all(dump.files is not None for dump in list(self._dumps.values()))

    def run(self) -> None:
        address, port = self._herald.getsockname()
        log.info("Waiting for clients on %s:%d.", address, port)
        try:
            while not self._stopping:
                for key, _ in self._selector.select(self._sleep()):
                    if key.fileobj is self._herald:
                        self._heralds()
                    elif key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif key.fd in self._lingering:
                        self._answer_late(self._lingering[key.fd][0])
                    else:
                        self._client(self._by_fd[key.fd])
                self._housekeeping()
        finally:
            self._shutdown()

    def _sleep(self) -> float:
        sleep = min(TICK, self.config.timeout / 4)
        if self._name_deadline:
            sleep = min(sleep, max(0.0, min(self._name_deadline.values()) - self._clock()))
        return sleep

    # --- HERALDs -------------------------------------------------------------------------

    def _heralds(self) -> None:
        for _ in range(BATCH):
            try:
                data, source, destination = sockets.receive_herald(self._herald, self._room)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("recvmsg(): %s", os_error_text(exc))
                return
            local = destination or self._herald.getsockname()[0]
            self._herald_from(_Herald(data, source, local))

    def _herald_from(self, herald: _Herald) -> None:
        try:
            message = parse_herald(herald.data)
        except WireError as exc:
            log.warning("Ignoring herald from %s: %s", herald.source[0], exc)
            return
        current = self._dumps.get(herald.source)
        if current is not None:
            repeat = self._clock() - current.started < HERALD_REPEAT_WINDOW
            if repeat or not current.session.any_data_received:
                self._acknowledge(current, [pack_ack(message.seqno)])  # the client missed our ACK
                return
            self._end(current, "Dump incomplete: client started a new dump", "timeout")
        if len(self._dumps) >= self.config.max_clients:
            log.warning(
                "Refusing dump from %s: %d dumps in progress", herald.source[0], len(self._dumps)
            )
            return
        if not self._enough_space():
            return
        place = self._place(message.path, herald.source[0])
        if place is None:
            return
        try:
            sock = sockets.dump_socket(herald.destination, herald.source)
        except OSError as exc:
            os.close(place.dir_fd)
            log.error("Cannot answer %s: %s", herald.source[0], os_error_text(exc))
            return
        session = ServerSession(
            max_payload=self.config.max_payload, max_body=self.config.max_dump_size
        )
        dump = Dump(herald.source, sock, place, session, self._clock())
        self._dumps[dump.peer] = dump
        self._by_fd[sock.fileno()] = dump
        self._selector.register(sock, selectors.EVENT_READ, None)
        self._resolver.start(dump.address)
        if not self._try_name(dump):
            self._name_deadline[dump.peer] = self._clock() + self.config.dns_timeout
        if dump.peer in self._dumps:
            self._acknowledge(dump, [pack_ack(message.seqno)])

    def _enough_space(self) -> bool:
        if not self.config.minfree:
            return True
        try:
            stats = os.fstatvfs(self._root_fd)
        except OSError as exc:
            log.error("statvfs(%s): %s", self.config.dumpdir, os_error_text(exc))
            return False
        free = stats.f_bavail * stats.f_frsize
        if free < self.config.minfree:
            log.warning("Refusing dump: %d bytes free, minfree is %d", free, self.config.minfree)
            return False
        return True

    def _place(self, path: bytes | None, client: str) -> Place | None:
        """The client's directory beneath the dump directory, or the default one."""
        default = self.config.default_path.encode()
        if path is not None:
            try:
                return self._open_place(path)
            except OSError as exc:
                log.warning(
                    "Path %r of client %s unusable (%s); using the default path",
                    path.decode(errors="backslashreplace"),
                    client,
                    os_error_text(exc),
                )
        try:
            return self._open_place(default)
        except OSError as exc:
            log.error("Default path %s unusable: %s", self.config.default_path, os_error_text(exc))
            return None

    def _open_place(self, path: bytes) -> Place:
        fd = beneath.open_directory(self._root_fd, path)
        parts = beneath.components(path)
        rel = "/".join(part.decode(errors="surrogateescape") for part in parts)
        return Place(fd, f"./{rel}" if rel else ".")

    def _try_name(self, dump: Dump) -> bool:
        """Create the dump's files if its name is known; False while it is not."""
        answer = self._resolver.answer(dump.address)
        if answer is None:
            return False
        self._name(dump, answer[0])
        return True

    def _named_now(self, dump: Dump) -> bool:
        """Give a dump that is ending its files now: the name if known, else the address."""
        if dump.files is None and not self._try_name(dump):
            self._name(dump, None)
        return dump.peer in self._dumps

    def _name(self, dump: Dump, ptr: str | None) -> None:
        self._name_deadline.pop(dump.peer, None)
        host = host_label(ptr, dump.address)
        try:
            dump.open_files(host, self.config.max_dumps, self.config.rotate)
        except NoFreeIndex as exc:
            log.error("No free index for client %s [%s]: %s", host, dump.address, exc)
            self._forget(dump)
            return
        except DumpFailed as exc:
            self._fail(dump, str(exc))
            return
        except OSError as exc:
            log.error("Can't create files for client %s [%s]: %s", host, dump.address, exc)
            self._forget(dump)
            return
        assert dump.files is not None
        log.info(
            "New dump from client %s [%s] (to %s)",
            host,
            dump.address,
            dump.files.path(dump.files.core_name),
        )

    # --- dump sockets --------------------------------------------------------------------

    def _client(self, dump: Dump) -> None:
        acks: list[bytes] = []
        run: list[memoryview] = []  # payloads of consecutive new body messages, unwritten
        run_start = run_end = 0
        finished: Finished | None = None
        acked = False  # ACKs went out before the end of the batch
        header = HEADER_SIZE
        named = dump.files is not None
        # the hot path, a run of body packets, uses local names only
        receive, sock, receive_body = self._receive, dump.sock, dump.session.receive_body
        write_body, add_ack = dump.write_body, acks.append
        try:
            for _ in range(BATCH // ACK_EVERY):
                datagrams = receive(sock)
                if not datagrams:
                    break
                for datagram in datagrams:
                    if named:
                        fast = receive_body(datagram)
                        if fast is not None:
                            ack, offset, new = fast
                            if new:
                                if run and offset != run_end:
                                    write_body(run_start, run)
                                    run = []
                                if not run:
                                    run_start = offset
                                run.append(datagram[header:])
                                run_end = offset + len(datagram) - header
                            add_ack(ack)
                            continue
                    elif not dump.would_hold(len(datagram)):
                        continue
                    if run:  # written first: a header may truncate the file, FINISHED syncs it
                        write_body(run_start, run)
                        run = []
                    outcome = dump.session.receive(datagram)
                    if outcome.ack is None:
                        log.debug("Dropped packet from %s: %s", dump.address, outcome.reason)
                        continue
                    add_ack(outcome.ack)
                    if isinstance(outcome.event, Finished):
                        finished = outcome.event
                        break
                    if outcome.event is not None:
                        dump.store(outcome.event)
                if run:
                    write_body(run_start, run)
                    run = []
                if finished is not None:
                    break
                if acks:
                    self._acknowledge(dump, acks)
                    acks.clear()
                    acked = True
            if acks or acked:
                dump.last_seen = self._clock()
            dump.check_pieces()
            if finished is not None:
                self._finish(dump, finished)
        except DumpFailed as exc:
            self._fail(dump, str(exc))
            return
        self._acknowledge(dump, acks)
        if finished is not None:
            self._retire(dump)

    def _receive_batched(self, sock: socket.socket) -> list[memoryview]:
        """Up to ACK_EVERY datagrams with one recvmmsg(2), each in its slot of the buffer."""
        assert self._batcher is not None
        return self._batcher.receive(sock.fileno())

    def _receive_each(self, sock: socket.socket) -> list[memoryview]:
        """Up to ACK_EVERY datagrams (or FILL_BYTES) with one recv() each, side by side in
        the receive buffer (where recvmmsg(2) is missing)."""
        view, room = memoryview(self._buffer), self._room
        datagrams: list[memoryview] = []
        position = 0
        for _ in range(ACK_EVERY):
            try:
                size = sock.recv_into(view[position : position + room])
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:
                continue  # an ICMP error for an earlier ACK; the client is gone or busy
            datagrams.append(view[position : position + size])
            position += size
            if position > FILL_BYTES:
                break
        return datagrams

    def _acknowledge(self, dump: Dump, acks: list[bytes]) -> None:
        """Send ACKs for data that is written (or, before the files exist, held)."""
        if not acks:
            return
        if self._batcher is not None:
            error = self._batcher.send(dump.sock.fileno(), acks)
            if error is not None:  # the client resends what it misses; no ACK is queued
                log.debug("sendmmsg() to %s: %s", dump.address, os_error_text(error))
            return
        send = dump.sock.send
        for ack in acks:
            try:
                send(ack)
            except OSError as exc:
                log.debug("send() to %s: %s", dump.address, os_error_text(exc))

    def _answer_late(self, dump: Dump) -> None:
        """A finished dump's socket: ACK what repeats (FINISHED above all), store nothing."""
        view = memoryview(self._buffer)
        for _ in range(BATCH):
            try:
                size = dump.sock.recv_into(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue
            outcome = dump.session.receive(view[:size])
            if outcome.ack is not None and outcome.event is None:
                self._acknowledge(dump, [outcome.ack])

    def _finish(self, dump: Dump, finished: Finished) -> None:
        if not self._named_now(dump):
            raise DumpFailed("Dump unsuccessful: no files")
        dump.finish(finished)
        log.info("Completed dump from client %s [%s]", dump.host, dump.address)
        self._run_handler(dump, "success")

    # --- ending dumps --------------------------------------------------------------------

    def _end(self, dump: Dump, last_line: str, reason: str) -> None:
        """End a dump that did not finish: closing lines, handler."""
        if not self._named_now(dump):
            return
        log.info("Client %s [%s]: %s", dump.host, dump.address, last_line)
        dump.end(last_line)
        self._run_handler(dump, reason)
        self._forget(dump)

    def _fail(self, dump: Dump, line: str) -> None:
        if self._dumps.get(dump.peer) is not dump:
            return  # already ended
        log.error("Dump from %s [%s]: %s", dump.host or dump.address, dump.address, line)
        if dump.files is not None:
            dump.end(line)
            self._run_handler(dump, "error")
        self._forget(dump)

    def _retire(self, dump: Dump) -> None:
        """A finished dump: files closed, its socket kept a while for repeats."""
        del self._dumps[dump.peer]
        self._name_deadline.pop(dump.peer, None)
        fd = dump.sock.fileno()
        del self._by_fd[fd]
        dump.close_files()
        self._lingering[fd] = (dump, self._clock() + FINISHED_LINGER)

    def _close_lingering(self, now: float) -> None:
        for fd, (dump, until) in list(self._lingering.items()):
            if now >= until:
                del self._lingering[fd]
                self._selector.unregister(dump.sock)
                dump.sock.close()

    def _forget(self, dump: Dump) -> None:
        if self._dumps.get(dump.peer) is not dump:
            return
        del self._dumps[dump.peer]
        self._name_deadline.pop(dump.peer, None)
        del self._by_fd[dump.sock.fileno()]
        self._selector.unregister(dump.sock)
        dump.close()

    def _run_handler(self, dump: Dump, reason: str) -> None:
        if self._handler is not None and dump.files is not None:
            self._handler.run(dump.outcome(reason))

    # --- time ----------------------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = self._clock()
        for peer in list(self._name_deadline):
            dump = self._dumps[peer]
            if not self._try_name(dump) and now >= self._name_deadline.get(peer, now):
                self._name(dump, None)
        for dump in list(self._dumps.values()):
            if now - dump.last_seen > self.config.timeout:
                self._end(dump, "Dump incomplete: client timed out", "timeout")
        self._close_lingering(now)
        if self._handler is not None:
            self._handler.reap(now)

    def _shutdown(self) -> None:
        log.info("Shutting down...")
        for dump in list(self._dumps.values()):
            self._end(dump, "Dump incomplete: server shut down", "timeout")
        self._close_lingering(float("inf"))
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
