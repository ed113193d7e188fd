"""The README's set-up section is what CI runs: exactly two commands, in a known shape."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _setup_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Set up\n", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_has_exactly_two_setup_commands():
    main_job, test_job = _setup_blocks()  # unpacking fails on any other count
    # the first installs with nothing but `pip install .` and runs a real solve
    assert main_job.startswith("pip install . && ") and "llmprice solve" in main_job
    assert "[" not in main_job.split("&&")[0]  # no extra: a fresh machine needs none
    assert test_job == 'pip install ".[test]" && python -m pytest -q'


def test_ci_runs_the_readme_commands_it_extracts():
    """.ci/run's extractor, run as CI runs it, yields the same two commands."""
    script = (REPO / ".ci" / "run").read_text()
    extractor = script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    got = [
        subprocess.run(
            ["python3", "-", str(k)],
            input=extractor,
            text=True,
            capture_output=True,
            cwd=REPO,
            check=True,
        ).stdout.strip()
        for k in (0, 1)
    ]
    assert got == _setup_blocks()
