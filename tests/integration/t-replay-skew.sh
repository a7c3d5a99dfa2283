#!/usr/bin/env bash
# A replay after a reload that raises commands.clock_skew (an attack
# review).  kakurid forgets the id of an executed command once the
# command has expired (exp + clock_skew is past), at most once a minute.
# Pruned under a skew of 0, a command became valid again when a reload
# raised the skew, and a copy of it was taken for new: executed twice.
# The ids are now kept for the largest skew a policy may give (7 days).
# The scenario waits for the once-a-minute prune (about 65 s).
. "$(dirname "$0")/lib.sh"
need
echo "== a replay after a reload that raises commands.clock_skew"
topology || die "topology"
pki_setup || die "PKI setup"
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
commands: { clock_skew = 0; };"
AGENT_ID=$(agent_init)
start_kakurid && until_ok 20 channel_up || die "kakurid starts"
OLD=$(sign carol status --ttl 2)
check "a status that lives 2 s: done (its receipt prunes the store for the first time)" \
	test "$(send_result "$OLD")" = done
check "... sent again at once: a replay" test "$(send_result "$OLD")" = replay
# the next prune is 60 s after the first, at a receipt: the command's
# id is forgotten then if exp + skew is all that keeps it (old code)
sleep 62
check "a minute later, a new status: done (its receipt prunes again)" \
	test "$(send_result "$(sign carol status)")" = done
R=$(send_result "$OLD")
check "... the old one, expired, is refused ($R)" bash -c "[ '$R' = expired ] || [ '$R' = replay ]"
# the policy raises the skew to 10 minutes: the old command is within it
sed -i 's/clock_skew = 0;/clock_skew = 600;/' "$POLICY"
n=$(ctl log -n 0 --json 2>/dev/null | jq "[.entries[] | select(.action == \"policy-reload\" and .result == \"applied\")] | length")
kill -HUP "$KPID"
check "SIGHUP: the policy with clock_skew = 600 is applied" until_ok 10 bash -c "[ \"\$(\"$KAKURICTL\" -s '$SOCK' log -n 0 --json | jq '[.entries[] | select(.action == \"policy-reload\" and .result == \"applied\")] | length')\" -gt $n ]"
check "the old command sent again: refused as a replay, not executed again (fails on the old code)" \
	test "$(send_result "$OLD")" = replay
check "kakurid served throughout" kill -0 "$KPID"
summary
[ "$FAILED" -eq 0 ]
