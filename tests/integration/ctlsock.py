"""
The local control socket as the scenarios' python speaks it: one request
frame out, its answer frame in (a 4-byte big-endian length, then JSON),
and processes that hold connections as another uid.  Scripts written by a
scenario import it with PYTHONPATH="$TOP/tests/integration".
"""
import json
import os
import socket
import struct
import time


def become(uid, gid=None, groups=()):
    """This process as uid (and gid, uid's own if not given) for good."""
    gid = uid if gid is None else gid
    os.setgroups(list(groups))
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def send_on(s, obj, rcvbuf=None):
    """
    obj as one frame on the connected socket s; the answer frame read back.
    Returns the answer (None if the agent closed first) and the bytes read
    past the answer.
    """
    body = json.dumps(obj).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    data = bytearray()
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        d = s.recv(rcvbuf or 65536)
        if not d:
            return None, bytes(data)
        data.extend(d)
    n = struct.unpack(">I", data[:4])[0]
    return json.loads(bytes(data[4:4 + n])), bytes(data[4 + n:])


def request(path, obj, rcvbuf=None, timeout=5):
    """
    obj as one frame on a new connection (send_on).  Returns the socket
    (open, for what follows the answer), the answer (None if the agent
    closed first) and the bytes read past the answer.
    """
    s = socket.socket(socket.AF_UNIX)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(path)
    ans, rest = send_on(s, obj, rcvbuf)
    return s, ans, rest


def word(answer, ok="ok"):
    """An answer in one word: ok, the error word, or closed."""
    if answer is None:
        return "closed"
    return ok if answer.get("ok") else answer.get("error", "?")


def hold_as(uid, work, stop, hold_s):
    """
    A child that becomes uid, runs work() (a list of (socket, word)), and
    holds those sockets while the caller lives, until the file stop
    exists, hold_s at most.  Returns the child's pid and the words.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        become(uid)
        parent = os.getppid()
        try:
            held = work()
        except OSError:
            held = [(None, "error")]
        os.write(w, (" ".join(x for _, x in held) + "\n").encode())
        os.close(w)
        t0 = time.monotonic()
        while (os.getppid() == parent and not os.path.exists(stop) and
               time.monotonic() - t0 < hold_s):
            time.sleep(0.1)
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        return pid, f.readline().split()
