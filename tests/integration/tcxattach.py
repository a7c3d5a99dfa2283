#!/usr/bin/env python3
# tcxattach.py IFNAME SECONDS: attach a tcx program to IFNAME's egress
# (a bpf link, Linux 6.6 on) and hold it SECONDS, as root malware would
# attach one that rewrites or redirects frames after the egress hook
# (t-tc).  No compiler: the program (r0 = TCX_NEXT; exit) is loaded with
# bpf(BPF_PROG_LOAD) and attached with bpf(BPF_LINK_CREATE); the link
# goes when this process ends.  Prints "attached" once it is.
import ctypes, os, socket, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
SYS_BPF, PROG_LOAD, LINK_CREATE = 321, 5, 28
SCHED_CLS, TCX_EGRESS = 3, 47
insns = struct.pack('<BBhi', 0xb7, 0x00, 0, -1) + struct.pack('<BBhi', 0x95, 0, 0, 0)
insn_buf = ctypes.create_string_buffer(insns, len(insns))
lic = ctypes.create_string_buffer(b"GPL")
attr = struct.pack('<IIQQIIQII16sII', SCHED_CLS, 2, ctypes.addressof(insn_buf),
                   ctypes.addressof(lic), 0, 0, 0, 0, 0, b"kktcx", 0, 0)
buf = ctypes.create_string_buffer(attr, 144)
fd = libc.syscall(SYS_BPF, PROG_LOAD, buf, 144)
if fd < 0:
    sys.exit("BPF_PROG_LOAD: %s" % os.strerror(ctypes.get_errno()))
link = ctypes.create_string_buffer(struct.pack('<IIII', fd, socket.if_nametoindex(sys.argv[1]),
                                               TCX_EGRESS, 0), 64)
lfd = libc.syscall(SYS_BPF, LINK_CREATE, link, 64)
if lfd < 0:
    sys.exit("BPF_LINK_CREATE tcx egress: %s" % os.strerror(ctypes.get_errno()))
print("attached", flush=True)
time.sleep(float(sys.argv[2]))
