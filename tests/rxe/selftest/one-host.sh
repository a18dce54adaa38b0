#!/bin/sh
# rxehost self-test, one host: rxe0 exists and rdma-core's tools work over it.
set -u
addr=$RDQ_ADDR_SELF
fail() { echo "SELFTEST FAIL: $*"; exit 1; }

ibv_devices | grep -q "$RDQ_RXE_DEV" || fail "ibv_devices does not list $RDQ_RXE_DEV"

# The servers get a timeout so a missing client can't hang the run.
timeout 60 rping -s -a "$addr" -C 3 &
srv=$!
sleep 1
rping -c -a "$addr" -C 3 -v || fail "rping client"
wait $srv || fail "rping server"

# cmtime's server never exits on its own: stop it once the client is done.
cmtime -b "$addr" -c 50 >/dev/null &
srv=$!
sleep 1
cmtime -c 50 -s "$addr" || fail "cmtime client"
kill $srv 2>/dev/null

timeout 60 ib_send_lat -d "$RDQ_RXE_DEV" -R -n 200 >/dev/null &
srv=$!
sleep 1
ib_send_lat -d "$RDQ_RXE_DEV" -R -n 200 "$addr" || fail "ib_send_lat client"
wait $srv || fail "ib_send_lat server"
echo "SELFTEST OK one-host"
