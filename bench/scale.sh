#!/bin/sh
# The scale run, in one boot of the rxe host: one rdqd at its default limits
# connects to its own listener in blocks of 1000 up to N connections (each
# connection is two endpoints in rdqd: the active one and the listener's
# passive one), printing per block the time it took, rdqd's resident memory
# and its open descriptors, and the CPU time rdqd spent in it, its own and the
# kernel's (rdq-storm -b). bench/plot-scale turns the output
# into a table and docs/img/scale.png.
# Usage (on the host):
#   tests/rxe/rxehost run --build-dir build --mem 2048 --timeout 1800 -- bench/scale.sh [N] | tee scale.log
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}
N=${1:-10000}

# shellcheck disable=SC2086 # RDQD_ARGS: extra rdqd options, split on spaces
rdqd_start -q ${RDQD_ARGS:-} || exit 1
ctl ep listen "$ADDR:7472" --max-connections 65536 >/dev/null
echo "== scale N=$N rdqd pid $RDQD_PID"
rdq-storm -s "$RDQ_SOCK" -n "$N" -b 1000 -p "$RDQD_PID" "$ADDR:7472" || echo "rdq-storm failed"
ctl -j stats
rdqd_stop
