"""The netdump protocol, sans I/O: codecs and state machines, no sockets, clocks or threads.

Drivers (dumpon/sender.py, the server) own sockets and time; these modules take events
(a datagram arrived, the time is now t) and return what to do (send these bytes, ACK,
store these bytes).

Public API (import from the submodules):

- `dumpon.protocol.wire`: HERALD_PORT, ACK_PORT, DATASIZE, MAX_IN_FLIGHT, MAX_PAYLOAD,
  HEADER_SIZE, ACK_SIZE, MessageType, Message (pack), WireError, pack_header,
  parse_message, pack_ack, parse_ack, payload_size(mtu, limit), herald_path(payload),
  herald_payload(path).
- `dumpon.protocol.kdh`: KernelDumpHeader (pack, parse, extent, with_length), KdhError,
  parity, KDH_SIZE, KERNELDUMPMAGIC, TEXTDUMPMAGIC,
  KERNELDUMPVERSION, NETDUMP_BLOCKSIZE, ARCHITECTURE_VERSIONS.
- `dumpon.protocol.ranges`: RangeSet (add, covers, holes, total).
- `dumpon.protocol.session`: the server side of one dump.  parse_herald -> Herald(seqno,
  path); ServerSession(max_payload=, max_body=).receive(datagram) -> Outcome(ack, event,
  reason) with events BodyData, KeyData, HeaderReceived, Finished; state (SessionState),
  body / key (RangeSet), header, header_raw, holes(), key_blob(), key_size, complete,
  any_data_received.  A KDH may arrive in pieces (payloads under 512 bytes).
- `dumpon.protocol.client`: the kernel's side.  ClientMachine(payload=, herald=,
  key_blob=, order=12|13, tunables=Tunables(polls, retries, arp_retries, poll_interval),
  staging=, ack_exact=) with events start(now), send_body(offset, data, now),
  finish_body(kdh, now), receive(datagram, port, now), timeout(now), each returning a
  Transmit(port, datagrams, wake_at) or None; state (ClientState), wants_body, port,
  seqno, stats (ClientStats), failure, failed_in; ProtocolError; STAGING_SIZE.
"""
