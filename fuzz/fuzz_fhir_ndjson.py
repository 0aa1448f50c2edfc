"""atheris: FHIR Observations as NDJSON through the FHIR reader and the checker.

Only catalogued issues may come out (see harness.py).
Long run: ``PYTHONPATH=src python fuzz/fuzz_fhir_ndjson.py fuzz/corpus/ndjson -max_len=65536 -timeout=20``.
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["datahealth", "harness"]):
    import harness


def test_one_input(data: bytes) -> None:
    harness.run_ndjson(data[: harness.MAX_BYTES])


if __name__ == "__main__":
    harness.fuzz_main(test_one_input)
