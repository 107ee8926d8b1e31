#!/usr/bin/env python3
"""test_check_words.py -- the domain-word checker must fail when it should.

Usage: test_check_words.py ROOT   (ROOT holds host/ and tests/layering/)

Each case copies ROOT/host to a temporary directory, changes it in one
way, runs check_words.py on the copy and asserts the exit status and the
message: an unchanged copy passes; a seed word in a comment, in a string
and in an identifier's own word each fail, in any case; the words inside
longer words, and in files that are not C, pass.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostcopy import HostCopy  # noqa: E402


class Words(HostCopy):
    CHECKER = 'check_words.py'
    PREFIX = 'words-'

    def append(self, rel, line):
        """Add line at the end of rel; returns its line number."""
        path = self.path(rel)
        with open(path, encoding='utf-8') as f:
            n = len(f.readlines())
        with open(path, 'a', encoding='utf-8') as f:
            f.write(line + '\n')
        return n + 1

    def test_unchanged_copy_passes(self):
        rc, out = self.run_checker()
        self.assertEqual(rc, 0, out)
        self.assertIn('name no chat type', out)

    def test_word_in_a_comment_fails(self):
        n = self.append('host/api/rest.c', '/* the ad room of a publisher */')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn(f'host/api/rest.c:{n}: seed domain word ad, publisher:', out)

    def test_word_in_a_string_fails(self):
        n = self.append('host/store/store_ops.c', 'static const char *k = "Tasks";')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn(f'host/store/store_ops.c:{n}: seed domain word Tasks:', out)

    def test_word_in_a_header_fails(self):
        n = self.append('host/core/log.h', 'void ch_support(int ADS);')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn(f'host/core/log.h:{n}: seed domain word ADS:', out)

    def test_word_as_a_name_fails(self):
        n = self.append('host/net/conn.c', 'int task = 0;')
        rc, out = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn(f'host/net/conn.c:{n}: seed domain word task:', out)

    def test_longer_words_and_other_files_pass(self):
        self.append('host/net/conn.c', '/* downloads, multitasking, supported, roads */')
        self.append('host/README.md', 'The support plugin registers ads.')
        rc, out = self.run_checker()
        self.assertEqual(rc, 0, out)


if __name__ == '__main__':
    unittest.main(verbosity=2)
