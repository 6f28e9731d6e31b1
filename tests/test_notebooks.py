"""Every notebook (and the performance page) executes top to bottom in the quick profile.

The MyST-markdown notebooks are read with jupytext and executed with papermill, which injects
PROFILE="quick" into the cell tagged `parameters`. A failing cell fails the test and names the
notebook.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pm = pytest.importorskip("papermill")
jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md")) + [ROOT / "book" / "performance.md"]
KERNEL = "python3"
CELL_TIMEOUT_S = 3600      # the first figure page trains the whole quick grid (about 15 min on 2 cores)


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT).with_suffix(""))


def _has_parameters_cell(nb) -> bool:
    return any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in nb.cells
               if cell.cell_type == "code")


@pytest.mark.notebooks
def test_kernel_runs_this_python(tmp_path):
    """The python3 kernel that papermill starts must be this environment's interpreter,
    or notebooks would import a different (or no) cocorr_core."""
    nb = jupytext.reads("```{code-cell} ipython3\nimport sys\nprint(sys.prefix)\n```\n",
                        fmt="md:myst")
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": KERNEL}
    out = pm.execute_notebook(nb, str(tmp_path / "probe.ipynb"), kernel_name=KERNEL,
                              cwd=str(tmp_path), progress_bar=False, execution_timeout=120)
    printed = "".join(o.get("text", "") for o in out.cells[0].outputs).strip()
    assert Path(printed).resolve() == Path(sys.prefix).resolve(), (
        f"kernel {KERNEL!r} runs {printed}, not {sys.prefix}; reinstall it with "
        f"`{sys.executable} -m ipykernel install --sys-prefix --name python3`"
    )


@pytest.mark.notebooks
@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.exists()], ids=_id)
def test_notebook_runs_quick(path: Path, tmp_path):
    nb = jupytext.read(path)
    assert _has_parameters_cell(nb), f"{_id(path)} has no code cell tagged 'parameters'"
    pm.execute_notebook(
        nb,
        str(tmp_path / f"{path.stem}.ipynb"),
        parameters={"PROFILE": "quick"},
        kernel_name=KERNEL,
        cwd=str(path.parent),
        execution_timeout=CELL_TIMEOUT_S,
        progress_bar=False,
    )
