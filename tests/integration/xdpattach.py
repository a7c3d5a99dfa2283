#!/usr/bin/env python3
# xdpattach.py IFNAME: attach an XDP program that passes every frame
# (r0 = XDP_PASS; exit) to IFNAME in generic mode, as root malware would
# attach one that answers or redirects frames before any hook sees them
# (t-linkmove).  No compiler: the two instructions are loaded with
# bpf(BPF_PROG_LOAD) and attached with RTM_SETLINK IFLA_XDP.  Detach:
# `ip link set dev IFNAME xdpgeneric off`.
import ctypes, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
insns = struct.pack('<BBhi', 0xb7, 0x00, 0, 2) + struct.pack('<BBhi', 0x95, 0, 0, 0)
insn_buf = ctypes.create_string_buffer(insns, len(insns))
lic = ctypes.create_string_buffer(b"GPL")
attr = struct.pack('<IIQQIIQII16sII', 6, 2, ctypes.addressof(insn_buf), ctypes.addressof(lic), 0, 0, 0, 0, 0, b"kkxdp", 0, 0)
attr_buf = ctypes.create_string_buffer(attr, 144)
fd = libc.syscall(321, 5, attr_buf, 144)
if fd < 0:
    sys.exit("BPF_PROG_LOAD: %s" % os.strerror(ctypes.get_errno()))
ifindex = socket.if_nametoindex(sys.argv[1])
def nla(t, payload):
    l = 4 + len(payload)
    return struct.pack('<HH', l, t) + payload + b'\0' * ((4 - l % 4) % 4)
xdp = nla(1, struct.pack('<i', fd)) + nla(3, struct.pack('<I', 2))
body = struct.pack('<BBHiII', 0, 0, 0, ifindex, 0, 0) + nla(43 | 0x8000, xdp)
msg = struct.pack('<IHHII', 16 + len(body), 19, 0x1 | 0x4, 1, 0) + body
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.send(msg)
r = s.recv(4096)
err = struct.unpack('<i', r[16:20])[0]
if err:
    sys.exit("RTM_SETLINK IFLA_XDP: %s" % os.strerror(-err))
