#!/usr/bin/env python3
# netdev_typeof.py < listing > loadable: what `nft list table netdev kakuri`
# prints, written so that `nft -f` reads it back (bench/run section 1).
#
# kakurid's netdev rows match raw link-layer offsets (@ll,304,128) against
# typed sets (ipv6_addr, ipv4_addr, inet_service); the kernel takes that
# (the lengths agree), but nft 1.0's parser refuses it as a datatype
# mismatch.  Declared "typeof" a raw offset of the same length, with
# elements as the integers they are, the same rules and elements load;
# only the sets' declared key type differs.  Other tables pass unchanged.
import ipaddress
import re
import sys

TYPEOF = {
    "ipv4_addr": ("@ll,240,32", lambda t: int(ipaddress.IPv4Address(t))),
    "ipv6_addr": ("@ll,304,128", lambda t: int(ipaddress.IPv6Address(t))),
    "inet_service": ("@ll,288,16", int),
}


def element(tok, conv):
    """One element: an address, a prefix or a range, as integers."""
    tok = tok.strip()
    if "/" in tok:
        net = ipaddress.ip_network(tok, strict=False)
        return "%s-%s" % (hex(int(net.network_address)),
                          hex(int(net.broadcast_address)))
    if "-" in tok:
        lo, hi = tok.split("-", 1)
        return "%s-%s" % (hex(conv(lo)), hex(conv(hi)))
    return hex(conv(tok))


def main():
    out = []
    family = None
    conv = None
    in_elements = False
    for line in sys.stdin:
        m = re.match(r"table (\S+) ", line)
        if m:
            family = m.group(1)
        if family != "netdev":
            out.append(line)
            continue
        m = re.match(r"(\s*)type (\S+)$", line.rstrip("\n"))
        if m and m.group(2) in TYPEOF:
            key, conv = TYPEOF[m.group(2)]
            out.append("%stypeof %s\n" % (m.group(1), key))
            continue
        m = re.match(r"(\s*)elements = \{(.*)$", line.rstrip("\n"))
        if (m or in_elements) and conv is not None:
            body = m.group(2) if m else line.rstrip("\n")
            lead = m.group(1) + "elements = { " if m else re.match(
                r"\s*", body).group(0)
            closed = body.rstrip().endswith("}")
            toks = [t for t in body.replace("}", "").split(",") if t.strip()]
            conv_toks = ", ".join(element(t, conv) for t in toks)
            trail = body.rstrip().endswith(",")
            out.append(lead + conv_toks + (" }" if closed else
                                           ("," if trail else "")) + "\n")
            in_elements = not closed
            if closed:
                conv = None
            continue
        if line.strip().startswith("}") or line.strip().startswith("set "):
            conv = None if not in_elements else conv
        out.append(line)
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
