#!/usr/bin/env bash
# kakurictl send --broker --timeout T is one deadline for the whole send.
# It was applied to the connect, again to the subscription, and again to
# the wait for receipts: through a slow broker a send of --timeout 5000
# to an agent that never answers took the connect's and the
# subscription's time on top of the 5 s.  Here the broker is reached
# through a proxy in the CSIRT namespace that holds every chunk 0.6 s
# each way (the connect about 2.4 s, the subscription 1.2 s, both well
# within T), and the agent addressed does not exist: no receipt comes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
command -v python3 >/dev/null || unable "no python3 for the slow proxy" "python3"
echo "== send --broker: --timeout bounds the whole send"
fleet_lab
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }
# an agent nobody runs: its receipt never comes
AGENT_ID=$(printf 'h-broker silent agent' | sha256sum | cut -c1-64)
CMD=$(sign alice status)
[ -n "$CMD" ] || die "a signed command"

# LISTEN-ADDR LISTEN-PORT BROKER-PORT DELAY: each chunk passed on DELAY
# seconds after it came, in order, both ways
cat >"$WORK/slow.py" <<'EOT'
import asyncio, sys
ADDR, PORT, UP, DELAY = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

async def pipe(r, w):
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()
    async def out():
        while True:
            t, data = await q.get()
            wait = t + DELAY - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                w.close()
                return
            w.write(data)
            await w.drain()
    task = asyncio.ensure_future(out())
    while True:
        data = await r.read(65536)
        q.put_nowait((loop.time(), data))
        if not data:
            break
    await task

async def handle(cr, cw):
    try:
        br, bw = await asyncio.open_connection(ADDR, UP)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, bw), pipe(br, cw), return_exceptions=True)

async def main():
    srv = await asyncio.start_server(handle, ADDR, PORT, reuse_address=True)
    print("listening", flush=True)
    async with srv:
        await srv.serve_forever()

asyncio.run(main())
EOT
SLOW_PORT=8884
ip netns exec "$PEER" timeout 120 python3 "$WORK/slow.py" "$PEER4" "$SLOW_PORT" "$BROKER_PORT" 0.6 \
	>"$WORK/slow.out" 2>&1 &
SLOW=$!; PIDS+=($SLOW)
until_ok 10 grep -q listening "$WORK/slow.out" || die "the slow proxy listens"

T=5000
t0=$(date +%s%N)
ip netns exec "$PEER" timeout 60 "$KAKURICTL" send --json --broker "mqtts://$PEER4:$SLOW_PORT" \
	--ca "$FLEET/ca.pem" --cert "$FLEET/operator.crt" --key "$FLEET/operator.key" \
	--agent "$AGENT_ID" --timeout "$T" "$CMD" >"$WORK/send.json" 2>"$WORK/send.err"
rc=$?
MS=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "  (send --timeout $T through the slow proxy: exit $rc in $MS ms; $(head -c 200 "$WORK/send.err"))"
check "it connected and subscribed through the slow proxy, and the agent stayed silent (exit 1, one silent)" \
	bash -c "[ $rc -eq 1 ] && jq -e '.summary.silent == 1 and .summary.done == 0' '$WORK/send.json'"
check "it waited for receipts until its deadline (at least $((T - 300)) ms)" test "$MS" -ge $((T - 300))
check "the whole send ended within --timeout $T ms and 2 s of slack (fails on the old code: the connect's and the subscription's time came on top)" \
	test "$MS" -le $((T + 2000))
end_pid "$SLOW"
summary
[ "$FAILED" -eq 0 ]
