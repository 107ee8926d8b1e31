"""hostcopy.py -- what the checkers' self-tests share: a temporary copy of
ROOT/host per test case, and running one checker on that copy.

ROOT is the first command-line argument (taken off sys.argv, so that
unittest does not see it), else the repository holding this file.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), '..', '..'))


class HostCopy(unittest.TestCase):
    """A test case on a fresh copy of host/ in self.tmp; subclasses name
    CHECKER (a file of tests/layering/) and PREFIX (the temp dir's)."""
    CHECKER = None
    PREFIX = 'host-'

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.PREFIX)
        shutil.copytree(os.path.join(ROOT, 'host'), os.path.join(self.tmp, 'host'))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def path(self, rel):
        return os.path.join(self.tmp, rel)

    def run_checker(self):
        """The checker's exit status and output on the copy."""
        checker = os.path.join(ROOT, 'tests', 'layering', self.CHECKER)
        r = subprocess.run([sys.executable, checker, self.tmp], capture_output=True, text=True)
        return r.returncode, r.stdout
