"""atheris: survey ``relevant``/``constraint`` expressions parsed and evaluated; only ExpressionError may escape.

The bytes are decoded as UTF-8 (invalid sequences replaced); the tail after a NUL byte is the current answer.
Long run: ``PYTHONPATH=src python fuzz/fuzz_expressions.py fuzz/corpus/expressions -max_len=4096 -timeout=10``.
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["datahealth", "harness"]):
    import harness


def test_one_input(data: bytes) -> None:
    source, _, current = data[:4096].decode("utf-8", "replace").partition("\x00")
    harness.run_expression(source, current)


if __name__ == "__main__":
    harness.fuzz_main(test_one_input)
