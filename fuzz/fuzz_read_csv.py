"""atheris: exchange CSV files (any of the specification's names) through the reader, streamed, and the checker.

First byte: which file name; the rest: the file. Only catalogued issues may come out (see harness.py).
Long run: ``PYTHONPATH=src python fuzz/fuzz_read_csv.py fuzz/corpus/csv -max_len=65536 -timeout=20``
(seeds: ``python fuzz/harness.py seeds fuzz/corpus``); see docs/fuzzing.md.
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["datahealth", "harness"]):
    import harness


def test_one_input(data: bytes) -> None:
    if not data:
        return
    harness.run_csv(harness.CSV_NAMES[data[0] % len(harness.CSV_NAMES)], data[1 : 1 + harness.MAX_BYTES])


if __name__ == "__main__":
    harness.fuzz_main(test_one_input)
