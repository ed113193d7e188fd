"""The example notebook runs end to end and its own checks of the paper's numbers pass.

``examples/paper_example.ipynb`` asserts the closed-form facts of the worked example
(profit within O(1/N) of 97/1080 and 97/960, exclusion at theta = 1/3, fine-tuning at 2/3,
markup 1 at the top, K-plan designs exactly incentive compatible, ...), so executing it
is the test: a failing assert is a failing cell. The kernel is this interpreter, through
a kernel spec written to a temporary directory (nothing in the user's home, and no
dependence on which ``python3`` kernel spec happens to be installed); the working directory
is the repository root, where the notebook's relative instance paths point. Figures are
drawn on matplotlib's Agg backend (``MPLBACKEND=Agg``; the notebook's ``%matplotlib inline``
renders them to PNG without a display).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")
pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "paper_example.ipynb"
KERNEL = "llmprice-notebook-test"
CELL_TIMEOUT = 300  # seconds per cell; the whole notebook takes ~20 s on 2 idle cores


def _kernel_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Name of a kernel spec that starts ipykernel in this interpreter (``sys.executable``).

    Written to a temporary Jupyter data directory put first on ``JUPYTER_PATH`` for this
    test only, under a name no installed spec uses.
    """
    data_dir = tmp_path / "jupyter"
    kernelspec.write_kernel_spec(path=str(data_dir / "kernels" / KERNEL))
    monkeypatch.setenv("JUPYTER_PATH", str(data_dir))
    return KERNEL


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    assert all(not c.outputs and c.execution_count is None for c in code), (
        "clear the outputs before committing (Jupyter: Edit > Clear Outputs of All Cells)"
    )
    assert all(c.source.strip() for c in nb.cells), "empty cell"


def test_notebook_runs_and_checks_the_paper(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # inherited by the kernel: no display needed
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=_kernel_spec(tmp_path, monkeypatch),
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(REPO)}},  # the kernel's working directory
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the cell and traceback) on a failure
    elapsed = time.perf_counter() - start

    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert images >= 4, f"expected the four figures as images, got {images}"
    text = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
    assert "status optimal" in text and "notebook ran in" in text
    print(f"notebook executed in {elapsed:.1f} s")
