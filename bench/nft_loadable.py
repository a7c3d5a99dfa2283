#!/usr/bin/env python3
# nft_loadable.py [--as-listed] < listing > text: what `nft list table`
# prints for kakuri's tables, written so that `nft -f` of nft 1.0 reads
# it back (bench/run sections 1 and 1c).
#
# kakurid matches raw offsets against typed sets: in the netdev table
# every row (@ll,208,32 @mgmt4), in the inet table the rows for ICMP
# "too big" errors, which match the quoted header (@th,192,32 @mgmt4).
# The kernel takes that (the lengths agree); nft 1.0's parser refuses it
# as a datatype mismatch.  So:
#   netdev: the sets are declared "typeof" a raw offset of the same
#           length, their elements the integers they are;
#   inet, bridge: a set used both ways keeps its type for the typed rows,
#           and a copy NAME_raw, "typeof" the raw offset with the same
#           elements as integers, serves the raw rows.
# The same rules and elements load either way; only sets' declared key
# types differ, and inet has one more set per such set.
#
# --as-listed: the reverse for the inet and bridge tables, as a check:
# what nft lists after loading the output, without the _raw copies and
# with the rows naming the sets again, is what kakurid's listing was.
import ipaddress
import re
import sys

TYPES = {
    "ipv4_addr": (32, lambda t: int(ipaddress.IPv4Address(t))),
    "ipv6_addr": (128, lambda t: int(ipaddress.IPv6Address(t))),
    "inet_service": (16, int),
}
NETDEV_KEY = {32: "@ll,240,32", 128: "@ll,304,128", 16: "@ll,288,16"}
RAW_USE = re.compile(r"(@(?:th|nh|ll),\d+,(\d+)) @(\w+)")
SET = re.compile(r"(?ms)^(\tset (\w+) \{\n\t\ttype (\w+)\n)(.*?)^\t\}\n")


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


def as_integers(body, conv):
    """A set's body (flags, elements) with its elements as integers."""
    m = re.search(r"(?s)elements = \{(.*?)\}", body)
    if not m:
        return body
    toks = [t for t in m.group(1).replace("\n", " ").split(",") if t.strip()]
    ints = ", ".join(element(t, conv) for t in toks)
    return body[:m.start()] + "elements = { " + ints + " }" + body[m.end():]


def netdev(table):
    def retype(m):
        bits, conv = TYPES.get(m.group(3), (None, None))
        if bits is None:
            return m.group(0)
        return ("\tset %s {\n\t\ttypeof %s\n" % (m.group(2), NETDEV_KEY[bits])
                + as_integers(m.group(4), conv) + "\t}\n")
    return SET.sub(retype, table)


def raw_copies(table):
    sets = {m.group(2): m for m in SET.finditer(table)}
    keys = {}

    def rename(m):
        s = sets.get(m.group(3))
        if s is None or s.group(3) not in TYPES:
            return m.group(0)
        keys.setdefault(m.group(3), m.group(1))
        return "%s @%s_raw" % (m.group(1), m.group(3))
    m = re.search(r"(?m)^\tchain ", table)
    cut = m.start() if m else len(table)
    head, chains = table[:cut], RAW_USE.sub(rename, table[cut:])
    for name, key in keys.items():
        s = sets[name]
        conv = TYPES[s.group(3)][1]
        copy = ("\tset %s_raw {\n\t\ttypeof %s\n" % (name, key)
                + as_integers(s.group(4), conv) + "\t}\n")
        head = head.replace(s.group(0), s.group(0) + copy, 1)
    return head + chains


def as_listed(table):
    table = re.sub(r"(?ms)^\n?\tset \w+_raw \{\n.*?^\t\}\n", "", table)
    return re.sub(r"(@(?:th|nh|ll),\d+,\d+ @\w+)_raw\b", r"\1", table)


def tables(text):
    """The listing cut into its tables, each with its family."""
    parts = re.split(r"(?m)^(?=table )", text)
    return [(re.match(r"table (\S+)", p).group(1) if p.startswith("table ")
             else None, p) for p in parts if p]


def main():
    listed = len(sys.argv) > 1 and sys.argv[1] == "--as-listed"
    out = []
    for family, table in tables(sys.stdin.read()):
        if family is None:
            out.append(table)
        elif listed:
            out.append(table if family == "netdev" else as_listed(table))
        elif family == "netdev":
            out.append(netdev(table))
        else:
            out.append(raw_copies(table))
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
