"""The event loop: one thread, one selector over the herald socket and every dump socket.

Per readiness event a dump socket is drained, up to BATCH datagrams so that one fast
client cannot starve the others.  On Linux, recvmmsg(2) reads up to SLOTS at a time (see
mmsg for where they land); a batch of consecutive body messages (the bulk of every dump)
is checked at once, its payloads are written with one pwritev(2) straight from the
receive buffer, and only then are they ACKed, with one sendmmsg(2).  Everything else,
and everything on systems without recvmmsg(2), is handled datagram by datagram, its ACKs
also sent after its data is written: nothing is acknowledged that is not in the file.
At FINISHED the dump's files are flushed to stable storage on the syncer's thread; its
closing lines and its handler follow when the loop collects the result.

While dumps are arriving, the loop polls its sockets without sleeping for `busy_poll`
seconds after the last datagram: waking a sleeping process costs tens of microseconds
(more in a virtual machine), which a client waiting for the ACKs of its batch would
otherwise wait for at every batch.
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
from dumpon.server.syncer import Syncer

log = logging.getLogger("netdumpd")

# Datagrams read from one dump socket before the loop turns to the others.
BATCH = 256
# Receive slots: datagrams read by one recvmmsg(2), and payloads written by one pwritev(2).
SLOTS = 64
# Datagrams whose data is written and ACKed together where recvmmsg(2) is missing.
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
        self._syncer: Syncer[tuple[Dump, Finished]] = Syncer(self.wake)
        # one more byte than the largest message, so a longer one shows as such
        self._room = HEADER_SIZE + config.max_payload + 1
        self._buffer = bytearray(FILL_BYTES + self._room)
        self._batcher = mmsg.batcher(config.max_payload, SLOTS)
        self._polling_until = 0.0  # poll without sleeping until then (config.busy_poll)
        self._due = 0.0  # when housekeeping is next due
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
                now = self._clock()
                if now >= self._due:
                    self._housekeeping(now)
                wait = 0.0 if now < self._polling_until else max(0.0, self._due - now)
                for key, _ in self._selector.select(wait):
                    if key.fileobj is self._herald:
                        self._heralds()
                    elif key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                        self._collect_synced(self._syncer.collect())
                        self._due = 0.0  # a name may have come in
                    elif key.fd in self._lingering:
                        self._answer_late(self._lingering[key.fd][0])
                    else:
                        self._client(self._by_fd[key.fd])
        finally:
            self._shutdown()

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
            deadline = self._clock() + self.config.dns_timeout
            self._name_deadline[dump.peer] = deadline
            self._due = min(self._due, deadline)
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
        try:
            heard, finished = self._drain(dump, acks)
            if heard:
                dump.last_seen = self._clock()
                self._polling_until = dump.last_seen + self.config.busy_poll
            dump.check_pieces()
            if finished is not None:
                self._finish(dump)
        except DumpFailed as exc:
            self._fail(dump, str(exc))
            return
        self._acknowledge(dump, acks)
        if finished is not None:
            self._retire(dump)
            self._syncer.submit((dump, finished), dump.flush)

    def _drain(self, dump: Dump, acks: list[bytes]) -> tuple[bool, Finished | None]:
        """Up to BATCH datagrams.  With recvmmsg(2), SLOTS at most per call, and a batch of
        consecutive body messages taken at once (_run); anything else, and everything
        where recvmmsg(2) is missing, datagram by datagram, ACKed after its data is
        written.  Whether any message was accepted, and FINISHED if it came (its ACK and
        any other unsent ones are then in `acks`)."""
        heard = False
        received = 0
        batcher = self._batcher
        while received < BATCH:
            if batcher is None:
                datagrams = self._receive_each(dump.sock)
            else:
                sizes = batcher.receive(dump.sock.fileno(), dump.payload_size)
                if sizes and self._run(dump, batcher, sizes):
                    heard = True
                    received += len(sizes)
                    continue
                datagrams = batcher.datagrams(sizes)
            if not datagrams:
                break
            received += len(datagrams)
            finished = self._each(dump, datagrams, acks)
            heard = heard or bool(acks)
            if finished is not None:
                return True, finished
            self._acknowledge(dump, acks)
            acks.clear()
        return heard, None

    @staticmethod
    def _run(dump: Dump, batcher: mmsg.Batcher, sizes: list[int]) -> bool:
        """The bulk of a dump: a batch of consecutive body messages, checked at once,
        written with one pwritev(2) and then ACKed with one sendmmsg(2).  False, with
        nothing done, for any other batch."""
        if dump.files is None:
            return False
        run = dump.session.receive_body_run(batcher.headers(len(sizes)), sizes)
        if run is None:
            return False
        if len(sizes) > 1:  # one of them is a whole payload (a lone one may be short)
            dump.payload_size = max(sizes) - HEADER_SIZE
        offset, new = run
        if new:
            dump.write_body(offset, batcher.payloads(sizes))
        error = batcher.acknowledge(dump.sock.fileno(), len(sizes))
        if error is not None:  # the client resends what it misses
            log.debug("sendmmsg() to %s: %s", dump.address, os_error_text(error))
        return True

    def _each(self, dump: Dump, datagrams: list[memoryview], acks: list[bytes]) -> Finished | None:
        """Datagrams one by one: their data written, their ACKs added to `acks` (to be sent
        after the writes); FINISHED, if it came, ends the batch."""
        run: list[memoryview] = []  # payloads of consecutive new body messages, unwritten
        run_start = run_end = 0
        header = HEADER_SIZE
        named = dump.files is not None
        # the hot path, a run of body packets, uses local names only
        receive_body, write_body, add_ack = dump.session.receive_body, dump.write_body, acks.append
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
                return outcome.event
            if outcome.event is not None:
                dump.store(outcome.event)
        if run:
            write_body(run_start, run)
        return None

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

    def _finish(self, dump: Dump) -> None:
        """FINISHED came: everything written (ACKed data may wait for a name in memory)."""
        if not self._named_now(dump):
            raise DumpFailed("Dump unsuccessful: no files")

    def _synced(self, dump: Dump, finished: Finished, flushed: OSError | None) -> None:
        """A finished dump is on stable storage (or failed to get there): its last lines,
        the handler, its files closed."""
        try:
            dump.complete(finished, flushed)
        except DumpFailed as exc:
            log.error("Dump from %s [%s]: %s", dump.host, dump.address, exc)
            dump.end(str(exc))
            self._run_handler(dump, "error")
        else:
            log.info("Completed dump from client %s [%s]", dump.host, dump.address)
            self._run_handler(dump, "success")
        dump.close_files()

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
        """A finished dump: out of the loop's dumps, its socket kept a while for repeats
        (its files stay open until it is synced)."""
        del self._dumps[dump.peer]
        self._name_deadline.pop(dump.peer, None)
        fd = dump.sock.fileno()
        del self._by_fd[fd]
        self._lingering[fd] = (dump, self._clock() + FINISHED_LINGER)

    def _collect_synced(self, results: list[tuple[tuple[Dump, Finished], OSError | None]]) -> None:
        for (dump, finished), flushed in results:
            self._synced(dump, finished, flushed)

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

    def _housekeeping(self, now: float) -> None:
        """Names, timeouts, lingering sockets, handlers; then when to come back."""
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
        self._due = now + min(TICK, self.config.timeout / 4)
        if self._name_deadline:
            self._due = min(self._due, *self._name_deadline.values())

    def _shutdown(self) -> None:
        log.info("Shutting down...")
        for dump in list(self._dumps.values()):
            self._end(dump, "Dump incomplete: server shut down", "timeout")
        self._collect_synced(self._syncer.close())
        self._close_lingering(float("inf"))
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
