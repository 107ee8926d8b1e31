#!/usr/bin/env python3
"""test_check_layers.py -- the layering checker must fail when it should.

Usage: test_check_layers.py ROOT   (ROOT holds host/ and tests/layering/)

Each case copies ROOT/host to a temporary directory, breaks it in one
way, runs check_layers.py on the copy and asserts the exit status and the
message: an unchanged copy passes; a wrong include, a private header of
another sub-system, a loop of three modules and a layers.txt that names a
later sub-system each fail; a loop of two modules passes.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostcopy import HostCopy  # noqa: E402


class Layering(HostCopy):
    CHECKER = 'check_layers.py'
    PREFIX = 'layering-'

    def write(self, rel, text):
        with open(self.path(rel), 'w', encoding='utf-8') as f:
            f.write(text)

    def inject(self, rel, line):
        """Add line after the first #include of rel; returns its line number."""
        with open(self.path(rel), encoding='utf-8') as f:
            lines = f.readlines()
        at = next(i for i, l in enumerate(lines) if l.startswith('#include')) + 1
        lines.insert(at, line + '\n')
        with open(self.path(rel), 'w', encoding='utf-8') as f:
            f.writelines(lines)
        return at + 1

    def test_unchanged_copy_passes(self):
        rc, out = self.run_checker()
        self.assertEqual(rc, 0, out)

    def test_wrong_include_fails(self):
        n = self.inject('host/net/conn.c', '#include "store.h"')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn(f'host/net/conn.c:{n}: net may not include store/store.h', out)

    def test_include_upwards_fails(self):
        n = self.inject('host/ws/ws.c', '#include "plugins.h"')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn(f'host/ws/ws.c:{n}: ws may not include runtime/plugins.h', out)

    def test_private_header_fails(self):
        n = self.inject('host/runtime/api_store.c', '#include "store_impl.h"')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn(f'host/runtime/api_store.c:{n}: runtime may not include '
                      'store/internal/store_impl.h (private to store)', out)

    def test_loop_of_three_fails(self):
        self.write('host/core/loop_a.h', '#include "loop_b.h"\n')
        self.write('host/core/loop_b.h', '#include "loop_c.h"\n')
        self.write('host/core/loop_c.h', '#include "loop_a.h"\n')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn('include loop of 3 modules in core: loop_a, loop_b, loop_c', out)

    def test_loop_of_two_passes(self):
        self.write('host/core/pair_a.h', '#include "pair_b.h"\n')
        self.write('host/core/pair_b.h', '#include "pair_a.h"\n')
        rc, out = self.run_checker()
        self.assertEqual(rc, 0, out)

    def test_loop_between_subsystems_fails(self):
        with open(self.path('host/layers.txt'), encoding='utf-8') as f:
            text = f.read().replace('\ncore:\n', '\ncore: net\n')
        self.write('host/layers.txt', text)
        self.inject('host/core/log.c', '#include "conn.h"')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn('core may only use sub-systems declared above it, not net', out)
        self.assertIn('include loop between sub-systems: core <-> net', out)

    def test_file_outside_subsystems_fails(self):
        self.write('host/stray.c', '#include "log.h"\n')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn('host/stray.c:1: not in a sub-system declared in host/layers.txt', out)


if __name__ == '__main__':
    unittest.main(verbosity=2)
