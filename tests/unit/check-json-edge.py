#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
JSON is rdqd's wire format, not its data model: inside daemon/ only the
encoder (encode.c) writes JSON, with lib/protocol's writer, and nothing holds
or builds a jansson value. Requests are read by lib/protocol/request_read.c
(no tree for the common frames; jansson only for the unusual ones).

Fails, naming each line, if a daemon file other than encode.c mentions json_
or includes jansson.

Usage: check-json-edge.py SOURCE_ROOT
"""
import os
import re
import sys

ENCODER = {'encode.c'}


def main():
    daemon = os.path.join(sys.argv[1], 'daemon')
    bad = []
    for top, _, files in os.walk(daemon):
        for f in sorted(files):
            if not f.endswith(('.c', '.h')) or f in ENCODER:
                continue
            path = os.path.join(top, f)
            with open(path, encoding='utf-8') as src:
                for n, line in enumerate(src, 1):
                    if re.search(r'json_|jansson', line):
                        bad.append(f'{os.path.relpath(path, sys.argv[1])}:{n}: {line.strip()}')
    for line in bad:
        print(line)
    print(f'{0 if bad else 1} passed, {1 if bad else 0} failed: '
          f'{len(bad)} line(s) of JSON outside the encoder')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
