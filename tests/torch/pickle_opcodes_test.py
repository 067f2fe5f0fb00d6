"""src/torch/pickle_opcodes.hpp against CPython's pickle module: every opcode of protocols 0-5
is there, under pickle.py's name and with its byte, and nothing else is."""
import os
import pickle
import pickletools
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import SOURCE_DIR, main  # noqa: E402

HEADER = os.path.join(SOURCE_DIR, "src", "torch", "pickle_opcodes.hpp")


def header_opcodes():
    with open(HEADER, encoding="utf-8") as f:
        text = f.read()
    out = {}
    for name, value in re.findall(r"X\((\w+), ('.'|0x[0-9a-fA-F]+)\)", text):
        out[name] = ord(value[1]) if value.startswith("'") else int(value, 16)
    return out


def cpython_opcodes():
    # pickle.TRUE / FALSE are protocol-0 INT lines ("I01\n"), not opcodes of their own.
    return {op.name: op.code.encode("latin-1")[0] for op in pickletools.opcodes}


class PickleOpcodes(unittest.TestCase):
    def test_same_names_and_bytes_as_cpython(self):
        ours, theirs = header_opcodes(), cpython_opcodes()
        self.assertGreater(len(ours), 60)
        self.assertEqual(ours, theirs)

    def test_names_are_pickle_module_constants(self):
        for name, value in header_opcodes().items():
            self.assertEqual(getattr(pickle, name), bytes([value]), name)


if __name__ == "__main__":
    main()
