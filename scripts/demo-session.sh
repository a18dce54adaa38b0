#!/bin/sh
# The narrated rdqctl session of scripts/demo; runs on the rxe host.
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}

step() {
	printf '\n== %s\n' "$1"
}

# run CMD...: shows a command, runs it, shows its output; a failure ends the demo.
run() {
	echo "\$ rdqctl $*"
	if ! out=$(ctl "$@" 2>&1); then
		echo "$out"
		echo "FAIL: rdqctl $* failed"
		rdqd_stop >/dev/null 2>&1
		exit 1
	fi
	echo "$out"
}

step "Start rdqd (the daemon owns the RDMA endpoints)"
rdqd_start || { echo FAIL; exit 1; }
echo "rdqd is running, pid $RDQD_PID, socket $RDQ_SOCK"

step "The RDMA devices it found (soft-RoCE)"
run dev show

step "Listen: a listener serves an echo service to any rdma_cm peer"
run ep listen "$ADDR:7472"
L=$(ctl -j ep show | sed -n 's/.*"ep":\([0-9]*\),[^}]*"role":"listener".*/\1/p')

step "Connect a second endpoint to the listener"
run ep connect "$ADDR:7472"
A=$(ctl -j ep show | tr '{' '\n' | grep '"role":"active"' | sed -n 's/.*"ep":\([0-9]*\).*/\1/p')
run ep show

step "Send a message and receive its echo"
run ep send "$A" "hello, RDMA"
echo "\$ rdqctl ep recv $A"
echoed=$(ctl ep recv "$A" 2>&1)
echo "$echoed"

step "Disconnect (DREQ, then DREP; the QP is moved to error on a worker)"
run ep disconnect "$A" --wait
run ep show "$A"

step "Destroy both endpoints"
run ep destroy "$A"
run ep destroy "$L"
run ep show

step "Counters"
run stats

step "Stop rdqd (SIGTERM)"
rdqd_stop && echo "rdqd exited 0"

if [ "$echoed" = "hello, RDMA" ] && ! grep -q 'level violation' "$RDQD_LOG"; then
	printf '\nPASS: listen, connect, echo, disconnect and destroy over rxe\n'
else
	printf '\nFAIL\n'
	exit 1
fi
