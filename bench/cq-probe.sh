#!/bin/sh
# The cost of a CQ per QP against a QP on shared queues, in one boot of the
# rxe host (bench/cq-probe): what rdqd's choice of one CQ per device rests on.
# A CQ per QP must hold a completion for every shared receive its QP may take
# (256) plus its sends (16); rdqd's QP has 16 send work requests.
# Usage (on the host): tests/rxe/rxehost run --build-dir build -- bench/cq-probe.sh
set -u
for run in 1 2 3; do
	cq-probe -n 1000 cq 272
	cq-probe -n 1000 cq 48
	cq-probe -n 1000 qp 16
done
