#!/usr/bin/env bash
# The CSIRT's DNS server does not answer (down, or blackholed by the
# network in trouble): kakurictl send to a host name gives up by its
# --timeout, like a connect that gets no answer, instead of waiting for
# the resolver (timeout x attempts of resolv.conf: minutes), and a
# fan-out goes on to the other targets.  Address literals still need no
# lookup at all, and a name the hosts file knows still works.
#
# `ip netns exec NS` puts the files of /etc/netns/NS over those of /etc:
# the CSIRT namespace gets a resolv.conf naming a server on the internet
# host whose DNS packets are dropped (counted, so that the test knows the
# resolver asked), "options timeout:30 attempts:5", its own hosts file and
# "hosts: files dns".  This machine's own files are not touched.
. "$(dirname "$0")/lib.sh"
need
echo "== send: a host name whose DNS server never answers"
if [ -S /run/nscd/socket ] || [ -S /var/run/nscd/socket ]; then
	unable "nscd runs: it would answer names from this machine's resolv.conf" "no nscd"
fi
NSETC="/etc/netns/$PEER"
ETC_NETNS_MADE=
[ -d /etc/netns ] || ETC_NETNS_MADE=1
trap 'rm -rf "$NSETC"; [ -z "$ETC_NETNS_MADE" ] || rmdir /etc/netns 2>/dev/null; cleanup' EXIT

remote_agent_up

# the silent DNS server: the internet host drops every DNS packet, counted
DNS=$NET4
ip netns exec "$NET" nft -f - <<EOF || die "the DNS blackhole"
table inet kkdns {
	chain input {
		type filter hook input priority 0;
		udp dport 53 counter drop
		tcp dport 53 counter drop
	}
}
EOF
# dns_asked: how many DNS packets reached the silent server
dns_asked() {
	ip netns exec "$NET" nft list table inet kkdns | grep -o 'packets [0-9]*' |
		awk '{ n += $2 } END { print n + 0 }'
}
mkdir -p "$NSETC" || die "$NSETC"
printf 'nameserver %s\noptions timeout:30 attempts:5\n' "$DNS" >"$NSETC/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost\n%s agent-hosts.kk-test\n' "$EP6" >"$NSETC/hosts"
if grep -q '^hosts:' /etc/nsswitch.conf 2>/dev/null; then
	sed 's/^hosts:.*/hosts: files dns/' /etc/nsswitch.conf >"$NSETC/nsswitch.conf"
else
	{ cat /etc/nsswitch.conf 2>/dev/null; echo 'hosts: files dns'; } >"$NSETC/nsswitch.conf"
fi
check "in the CSIRT namespace resolv.conf names the silent server, 30 s x 5 attempts" \
	ip netns exec "$PEER" grep -qx "nameserver $DNS" /etc/resolv.conf
check "... its hosts line is files, then dns" \
	test "$(ip netns exec "$PEER" awk '$1 == "hosts:"' /etc/nsswitch.conf)" = "hosts: files dns"
refute "... its hosts file does not know agent.invalid-test" \
	ip netns exec "$PEER" grep -qw 'agent\.invalid-test' /etc/hosts
# the resolver itself would wait there: the name is not refused at once
timeout 4 ip netns exec "$PEER" getent ahosts agent.invalid-test >/dev/null 2>&1
check "... the resolver itself is still waiting for agent.invalid-test after 4 s" test $? -eq 124
check "... and asked the silent server" test "$(dns_asked)" -gt 0
ASKED=$(dns_asked)

# send_in NAME TARGET...: a signed status to each, --timeout 2000, in the
# background (send_bg)
send_in() {
	local name=$1 cmd
	shift
	cmd=$(sign carol status) || return 1
	send_bg "$name" 2000 "$cmd" "$@"
}
# done_by NAME TARGET: NAME's JSON has TARGET done with this agent's receipt
done_by() {
	jq -se --arg t "$2" --arg a "$AGENT_ID" \
		'[.[] | select(.target == $t and .status == "done" and .receipts[0].result == "done" and .receipts[0].agent == $a)] | length == 1' \
		"$WORK/$1.out"
}
# address literals: answered without a lookup, as always
send_in v6 "[$EP6]:7443"
check "a send to [$EP6]:7443 from the namespace with the silent DNS ends within 15 s" ended_within v6 15
check "... done, the agent's verified receipt" done_by v6 "[$EP6]:7443"
check "... exit 0" test "$(rc_of v6)" = 0
send_in v4 "$EP4:7443"
check "a send to $EP4:7443 ends within 15 s" ended_within v4 15
check "... done, the agent's verified receipt" done_by v4 "$EP4:7443"
check "... exit 0" test "$(rc_of v4)" = 0
check "... no DNS packet for either address literal" test "$(dns_asked)" = "$ASKED"

# a name the namespace's hosts file knows: looked up, no DNS needed
send_in hosts agent-hosts.kk-test:7443
check "a send to agent-hosts.kk-test:7443 (in the hosts file) ends within 15 s" ended_within hosts 15
check "... done, the agent's verified receipt" done_by hosts agent-hosts.kk-test:7443
check "... exit 0" test "$(rc_of hosts)" = 0
check "... no DNS packet for it" test "$(dns_asked)" = "$ASKED"

# a name only DNS could answer: the resolver would wait minutes, the
# send ends by its 2 s timeout
send_in dead agent.invalid-test:7443
check "a send to agent.invalid-test:7443 (timeout 2000 ms) ends within 15 s" ended_within dead 15
took dead
check "... exit 3: the agent is unreachable" test "$(rc_of dead)" = 3
check "... one JSON line: the target unreachable" \
	jq -se '[.[] | select(.target == "agent.invalid-test:7443" and .status == "unreachable")] | length == 1' "$WORK/dead.out"
check "... one line on stderr" test "$(wc -l <"$WORK/dead.err")" -eq 1
check "... naming the address: no address within 2000 ms" \
	grep -qx 'kakurictl: agent\.invalid-test:7443: agent\.invalid-test:7443: no address within 2000 ms' "$WORK/dead.err"
check "... the silent server was asked (the lookup was under way)" test "$(dns_asked)" -gt "$ASKED"

# a fan-out, 2 workers: two such names listed before a real agent
send_in fan a.invalid-test:7443 b.invalid-test:7443 "[$EP6]:7443"
check "a fan-out (2 workers) over 2 silent names and an address ends within 15 s" ended_within fan 15
took fan
check "... exit 3: some target unreachable" test "$(rc_of fan)" = 3
check "... the agent's verified receipt: done" done_by fan "[$EP6]:7443"
check "... both names unreachable, no address within 2000 ms" jq -se \
	'[.[] | select((.target == "a.invalid-test:7443" or .target == "b.invalid-test:7443") and .status == "unreachable" and (.error | endswith("no address within 2000 ms")))] | length == 2' \
	"$WORK/fan.out"

summary
[ "$FAILED" -eq 0 ]
