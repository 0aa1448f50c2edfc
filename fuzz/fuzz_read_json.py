"""atheris: a JSON message body through the exchange JSON reader and the checker.

Only catalogued issues may come out (see harness.py).
Long run: ``PYTHONPATH=src python fuzz/fuzz_read_json.py fuzz/corpus/json -max_len=65536 -timeout=20``.
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["datahealth", "harness"]):
    import harness


def test_one_input(data: bytes) -> None:
    harness.run_json(data[: harness.MAX_BYTES])


if __name__ == "__main__":
    harness.fuzz_main(test_one_input)
