#!/usr/bin/env python3
"""check_words.py -- the host knows no chat type: no seed domain word in host/.

Usage: check_words.py [ROOT]   (ROOT holds host/; default: this repository)

Fails (exit 1, one line per hit, FILE:LINE first) when a line of a C file
or header under ROOT/host/ (host/**/*.c, host/**/*.h: code, comments and
strings alike) contains a seed domain word: the regex
\\b(ads?|tasks?|publishers?|support)\\b, case-insensitive, the same rule
as the project's house check.  Those words belong to the chat plugins
(plugins/support, plugins/taskcomments ...), which the host serves without
knowing them.  Exit 0 with a one-line summary when all is well.
"""
import os
import re
import sys

WORDS = re.compile(r'\b(ads?|tasks?|publishers?|support)\b', re.IGNORECASE)


def host_sources(root):
    """The C files and headers under root/host, sorted, as paths from root."""
    found = []
    for top, dirs, files in os.walk(os.path.join(root, 'host')):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(('.c', '.h')):
                found.append(os.path.relpath(os.path.join(top, name), root))
    return found


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), '..', '..'))
    files = host_sources(root)
    hits = []
    for rel in files:
        with open(os.path.join(root, rel), encoding='utf-8', errors='replace') as f:
            for n, line in enumerate(f, 1):
                words = sorted({m.group(0) for m in WORDS.finditer(line)})
                if words:
                    hits.append(f'{rel}:{n}: seed domain word {", ".join(words)}: '
                                f'{line.strip()}')
    if not files:
        print(f'no C files under {os.path.join(root, "host")}')
        return 1
    for h in hits:
        print(h)
    if hits:
        print(f'{len(hits)} line(s) of host/ name a chat type; move the code into its '
              'plugin or use a generic word')
        return 1
    print(f'domain words: {len(files)} files of host/ name no chat type')
    return 0


if __name__ == '__main__':
    sys.exit(main())
