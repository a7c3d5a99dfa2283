#!/usr/bin/env python3
"""ptb.py - full-sized TCP transfers and hand-made "too big" errors, for
t-pmtu (path MTU discovery on the management channel while isolated).

  ptb.py serve ADDR PORT SECONDS
      accept connections one at a time until SECONDS passed; each sends a
      line "push N" (then N bytes, answered "ok N") or "pull N" (answered
      with N bytes, then closed)
  ptb.py push ADDR PORT BYTES TIMEOUT_S   exit 0 if the server took them all
  ptb.py pull ADDR PORT BYTES TIMEOUT_S   exit 0 if all BYTES arrived
  ptb.py forge DST QSRC QDST QSPORT QDPORT TAG [TYPE CODE [PROTO]]
      send DST an ICMP "fragmentation needed" (ICMPv6 "packet too big"),
      or of TYPE and CODE, quoting a TCP segment (or of protocol PROTO)
      QSRC:QSPORT -> QDST:QDPORT, TAG after it
  ptb.py catch FAMILY TAG SECONDS FILE
      a raw ICMP (4) or ICMPv6 (6) socket: append "got TAGxyz" to FILE when
      an error carrying TAG (and the letters after it) arrives, which is
      after the input hook, until SECONDS; prints "ready" once listening

Every loop is bounded in count and time; it talks only to the addresses
it is given (the test's namespaces).
"""
import socket
import struct
import sys
import time

CHUNK = 65536
MAX_BYTES = 64 << 20


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_line(conn, limit=64):
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        b = conn.recv(1)
        if not b:
            break
        line += b
    return line.decode("ascii", "replace").strip()


def serve(addr, port, seconds):
    end = time.monotonic() + seconds
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND
    s.bind((addr, port))
    s.listen(8)
    s.settimeout(0.2)
    while time.monotonic() < end:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        conn.settimeout(min(30.0, max(0.1, end - time.monotonic())))
        try:
            words = read_line(conn).split()
            n = int(words[1]) if len(words) == 2 else -1
            if n < 0 or n > MAX_BYTES:
                pass
            elif words[0] == "push":
                got = 0
                while got < n:
                    b = conn.recv(min(CHUNK, n - got))
                    if not b:
                        break
                    got += len(b)
                conn.sendall(b"ok %d\n" % got)
            elif words[0] == "pull":
                block = b"x" * CHUNK
                sent = 0
                while sent < n:
                    k = min(CHUNK, n - sent)
                    conn.sendall(block[:k])
                    sent += k
        except (OSError, ValueError):
            pass
        conn.close()
    return 0


def connect(addr, port, timeout):
    c = socket.socket(family(addr), socket.SOCK_STREAM)
    c.settimeout(timeout)
    c.connect((addr, port))
    return c


def push(addr, port, n, timeout):
    end = time.monotonic() + timeout
    c = connect(addr, port, timeout)
    c.sendall(b"push %d\n" % n)
    block = b"y" * CHUNK
    sent = 0
    while sent < n:
        c.settimeout(max(0.1, end - time.monotonic()))
        k = min(CHUNK, n - sent)
        c.sendall(block[:k])
        sent += k
    c.settimeout(max(0.1, end - time.monotonic()))
    return 0 if read_line(c) == "ok %d" % n else 1


def pull(addr, port, n, timeout):
    end = time.monotonic() + timeout
    c = connect(addr, port, timeout)
    c.sendall(b"pull %d\n" % n)
    got = 0
    while got < n:
        c.settimeout(max(0.1, end - time.monotonic()))
        b = c.recv(CHUNK)
        if not b:
            break
        got += len(b)
    return 0 if got == n else 1


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def forge(dst, qsrc, qdst, qsport, qdport, tag, kind=None,
          proto=socket.IPPROTO_TCP):
    fam = family(dst)
    if kind is None:
        kind = (3, 4) if fam == socket.AF_INET else (2, 0)
    # the quoted segment: a TCP header (an ACK), then the tag
    tcp = struct.pack("!HHIIBBHHH", qsport, qdport, 1, 1, 5 << 4, 0x10,
                      65535, 0, 0) + tag
    if fam == socket.AF_INET:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1,
                         0x4000, 64, proto, 0,
                         socket.inet_aton(qsrc), socket.inet_aton(qdst))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        body = struct.pack("!BBHHH", kind[0], kind[1], 0, 0, 1400) + ip + tcp
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), proto, 64,
                         socket.inet_pton(fam, qsrc),
                         socket.inet_pton(fam, qdst))
        # the kernel fills the checksum of an ICMPv6 raw socket's messages
        body = struct.pack("!BBHI", kind[0], kind[1], 0, 1280) + ip + tcp
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.sendto(body, (dst, 0))
    return 0


def catch(fam, tag, seconds, path):
    if fam == "4":
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW,
                          socket.IPPROTO_ICMPV6)
    s.settimeout(0.2)
    print("ready", flush=True)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end and n < 100000:
        n += 1
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        i = data.find(tag)
        if i >= 0:
            # the tag and the letters after it name the forged error
            j = i + len(tag)
            while j < len(data) and j - i < 32 and chr(data[j]).isalnum():
                j += 1
            with open(path, "a") as f:
                f.write("got %s\n" % data[i:j].decode())
    return 0


def main(a):
    if len(a) == 4 and a[0] == "serve":
        return serve(a[1], int(a[2]), float(a[3]))
    if len(a) == 5 and a[0] in ("push", "pull"):
        f = push if a[0] == "push" else pull
        try:
            return f(a[1], int(a[2]), int(a[3]), float(a[4]))
        except OSError as e:
            print("ptb.py %s: %s" % (a[0], e), file=sys.stderr)
            return 1
    if len(a) in (7, 9, 10) and a[0] == "forge":
        kind = (int(a[7]), int(a[8])) if len(a) > 7 else None
        proto = int(a[9]) if len(a) > 9 else socket.IPPROTO_TCP
        return forge(a[1], a[2], a[3], int(a[4]), int(a[5]), a[6].encode(),
                     kind, proto)
    if len(a) == 5 and a[0] == "catch":
        return catch(a[1], a[2].encode(), float(a[3]), a[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
