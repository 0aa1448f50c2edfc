"""Each atheris harness under fuzz/ runs for a bounded number of inputs on its seed corpus, without a crash.

The corpus is written fresh from the project's synthetic generator (``harness.write_seeds``); atheris
first replays every seed, then mutates for ``RUNS`` more inputs. A crash (exit code non-zero) fails
the test with atheris' report, which names the input file. Long runs: docs/fuzzing.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fuzzing import harness

atheris = pytest.importorskip("atheris")

ROOT = Path(__file__).resolve().parents[2]
HARNESSES = [
    # (harness, corpus, runs, max_len): CSV and definitions run the whole checker/importer per input (slow)
    ("fuzz_read_csv.py", "csv", 60, 65536),
    ("fuzz_read_json.py", "json", 200, 65536),
    ("fuzz_fhir_ndjson.py", "ndjson", 200, 65536),
    ("fuzz_expressions.py", "expressions", 3000, 4096),
    ("fuzz_survey_import.py", "definitions", 60, 262144),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    harness.write_seeds(folder)
    return folder


@pytest.mark.parametrize(("script", "kind", "runs", "max_len"), HARNESSES, ids=[h[0] for h in HARNESSES])
def test_atheris_harness_runs_clean(corpus: Path, tmp_path: Path, script: str, kind: str, runs: int, max_len: int):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [
        sys.executable,
        str(ROOT / "fuzz" / script),
        str(corpus / kind),
        f"-runs={runs}",
        f"-max_len={max_len}",
        "-timeout=60",
        "-seed=1",
        f"-artifact_prefix={tmp_path}/",
    ]
    done = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and a harness of this repository
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    report = done.stderr[-4000:]
    assert done.returncode == 0, report
    assert "Done" in report and not list(tmp_path.glob("crash-*")), report
