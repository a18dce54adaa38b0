#!/bin/sh
# librdq's ABI is its public header: the library exports exactly the functions
# lib/include/rdq/ declares (RDQ_EXPORT), the version script lists the same,
# the Debian symbols file promises the same (each at the version node the
# library gives it, from a package version that exists), and rdqd does not load
# librdq (it links the wire format statically). Each is kept by hand, so each is
# compared here: a function added to one place and not the others fails.
# Usage: check-abi.sh SOURCE_ROOT LIBRDQ_SO RDQD
set -u
root=$1
lib=$2
rdqd=$3
symbols=$root/debian/librdq0.symbols
changelog=$root/debian/changelog
bad=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-abi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# differ WHAT LEFT_NAME LEFT RIGHT_NAME RIGHT: says what only one side has.
differ() {
	if [ "$3" != "$5" ]; then
		echo "$1:"
		printf '%s\n' "$3" >"$tmp/left"
		printf '%s\n' "$5" >"$tmp/right"
		diff "$tmp/left" "$tmp/right" |
			sed -n "s|^< \(.*\)|  \1: in $2, not in $4|p; s|^> \(.*\)|  \1: in $4, not in $2|p"
		bad=1
	fi
}

declared=$(sed -n 's/^RDQ_EXPORT .*[ *]\(rdq_[a-z_]*\)(.*/\1/p' "$root"/lib/include/rdq/*.h | sort)
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
mapped=$(sed -n 's/^[[:space:]]*\(rdq_[a-z_]*\);$/\1/p' "$root/lib/librdq.map" | sort)

if [ -z "$declared" ]; then
	echo "no RDQ_EXPORT declaration found in lib/include/rdq/"
	bad=1
fi
differ "librdq exports what the header does not declare, or the reverse" \
	"the header" "$declared" "librdq.so" "$exported"
differ "lib/librdq.map and the header disagree" \
	"the header" "$declared" "lib/librdq.map" "$mapped"

# The symbols file against the built library, as dpkg-gensymbols sees it:
# every function as name@node, and each version node as node@node (nm shows
# the node itself as an absolute symbol).
versioned=$(nm -D --defined-only "$lib" | awk '
	$2 == "A" { print $3 "@" $3 }
	$2 == "T" { sub(/@@?/, "@", $3); print $3 }' | sort)
promised=$(awk '/^ / { print $1 }' "$symbols" | sort -u)
differ "debian/librdq0.symbols and librdq.so disagree (each exported name@node needs a line)" \
	"debian/librdq0.symbols" "$promised" "librdq.so" "$versioned"
promised_functions=$(printf '%s\n' "$promised" | sed -n 's/^\(rdq_[a-z_]*\)@.*/\1/p')
differ "debian/librdq0.symbols and the header disagree" \
	"the header" "$declared" "debian/librdq0.symbols" "$promised_functions"
duplicated=$(awk '/^ / { print $1 }' "$symbols" | sort | uniq -d)
if [ -n "$duplicated" ]; then
	echo "debian/librdq0.symbols lists these more than once: $duplicated"
	bad=1
fi

# The file's first line names the library by its SONAME; a symbol's minimum
# version is one the package has had (debian/changelog's newest or older): a
# later one would make a package built against librdq depend on a librdq0
# that does not exist yet.
soname=$(readelf -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
read -r file_soname file_package _ <"$symbols"
if [ "$file_soname" != "$soname" ] || [ "$file_package" != librdq0 ]; then
	echo "debian/librdq0.symbols names $file_soname ($file_package); the library is $soname (librdq0)"
	bad=1
fi
version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$changelog")
awk '/^ / { print $1, $2 }' "$symbols" | while read -r sym minver; do
	if ! dpkg --compare-versions "$minver" le "$version"; then
		echo "debian/librdq0.symbols: $sym from $minver, newer than debian/changelog's $version"
		echo x >>"$tmp/late"
	fi
done
[ -e "$tmp/late" ] && bad=1

if readelf -d "$rdqd" | grep -q 'NEEDED.*librdq'; then
	echo "rdqd loads librdq.so; it should link the protocol library statically"
	bad=1
fi
[ $bad -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $bad
