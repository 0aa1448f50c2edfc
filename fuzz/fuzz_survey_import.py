"""atheris: survey definition uploads (YAML, JSON, XLSForm .xlsx); only catalogued DatahealthErrors may escape.

First byte: which format; the rest: the file.
Long run: ``PYTHONPATH=src python fuzz/fuzz_survey_import.py fuzz/corpus/definitions -max_len=262144 -timeout=30``.
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
    name = harness.DEFINITION_NAMES[data[0] % len(harness.DEFINITION_NAMES)]
    harness.run_definition(name, data[1 : 1 + 4 * harness.MAX_BYTES])


if __name__ == "__main__":
    harness.fuzz_main(test_one_input)
