"""Shared by the Python package tests: paths (tests/support, tests/torch on sys.path), a temp
folder per test, and the assertion that a call raises SafetensorError with a one-line message.

ctest runs these with PYTHONPATH=<build>/python (the package in the build tree) and
SAFETENSORS_PYTHON (cmake/python.cmake)."""
import os
import sys
import tempfile
import unittest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "support"))
sys.path.insert(0, os.path.join(TESTS, "torch"))

from safetensors import SafetensorError  # noqa: E402


class PackageTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="st-py-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def assertRefused(self, fn, *args, kind=None, contains=None, **kwargs):
        """fn(*args) raises SafetensorError with a one-line message (of `kind`, naming `contains`)."""
        with self.assertRaises(SafetensorError) as cm:
            fn(*args, **kwargs)
        message = str(cm.exception)
        self.assertNotIn("\n", message)
        self.assertTrue(message)
        if kind is not None:
            self.assertEqual(cm.exception.kind, kind, message)
        if contains is not None:
            self.assertIn(contains, message)
        return cm.exception
