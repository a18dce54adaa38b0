#!/bin/sh
# librdq's ABI is its public header: the library exports exactly the functions
# lib/include/rdq/ declares (RDQ_EXPORT), the version script lists the same,
# and rdqd does not load librdq (it links the wire format statically).
# Usage: check-abi.sh SOURCE_ROOT LIBRDQ_SO RDQD
set -u
root=$1
lib=$2
rdqd=$3
bad=0

declared=$(sed -n 's/^RDQ_EXPORT .*[ *]\(rdq_[a-z_]*\)(.*/\1/p' "$root"/lib/include/rdq/*.h | sort)
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
mapped=$(sed -n 's/^[[:space:]]*\(rdq_[a-z_]*\);$/\1/p' "$root/lib/librdq.map" | sort)

if [ -z "$declared" ]; then
	echo "no RDQ_EXPORT declaration found in lib/include/rdq/"
	bad=1
fi
if [ "$declared" != "$exported" ]; then
	echo "librdq exports what the header does not declare, or the reverse:"
	printf '%s\n' "$declared" >/tmp/abi-declared.$$
	printf '%s\n' "$exported" >/tmp/abi-exported.$$
	diff /tmp/abi-declared.$$ /tmp/abi-exported.$$ | sed -n 's/^</  declared, not exported:/p; s/^>/  exported, not declared:/p'
	rm -f /tmp/abi-declared.$$ /tmp/abi-exported.$$
	bad=1
fi
if [ "$declared" != "$mapped" ]; then
	echo "lib/librdq.map and the header disagree"
	bad=1
fi
if readelf -d "$rdqd" | grep -q 'NEEDED.*librdq'; then
	echo "rdqd loads librdq.so; it should link the protocol library statically"
	bad=1
fi
[ $bad -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $bad
