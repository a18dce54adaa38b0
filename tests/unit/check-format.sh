#!/bin/sh
# Formatting is mechanical: every C file matches .clang-format.
# Usage: check-format.sh SOURCE_ROOT
set -u
cd "$1" || exit 1
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find lib daemon client tests -name '*.[ch]'); do
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=1
	fi
done
exit $bad
