#!/bin/sh
# rxehost self-test, two hosts: rping host 1 -> host 2, barrier helpers, and
# killing host 2 on request.
set -u
fail() { echo "SELFTEST FAIL: $*"; exit 1; }
if [ "$RDQ_HOST_INDEX" = 2 ]; then
	timeout 60 rping -s -a "$RDQ_ADDR_SELF" -C 3 &
	srv=$!
	sleep 1
	rxehost-signal server-up
	wait $srv || fail "rping server"
	rxehost-signal served
	sleep 600 # host 1 kills this VM
	fail "host 2 was not killed"
fi
rxehost-wait server-up 60 || fail "host 2 never came up"
rping -c -a "$RDQ_ADDR_PEER" -C 3 -v || fail "rping client"
rxehost-wait served 60 || fail "host 2 server did not finish"
rxehost-kill-peer 30 || fail "host 2 still alive"
echo "SELFTEST OK two-host"
