"""Every notebook in notebooks/ runs from start to end (a cell error, or a shell command
``!...`` that exits non-zero, fails it), imports tfcaption, defines no model code and is
committed without outputs; notebooks/README.md lists each one."""

import ast
import glob
import os
import re
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")
PATHS = sorted(glob.glob(os.path.join(NOTEBOOKS, "*.ipynb")))
NAMES = [os.path.basename(p) for p in PATHS]

# Run first, in the test only: a shell command (``!python -m ...``) that exits non-zero
# raises, as a failing Python cell does (IPython itself only records its status).
CHECK_SHELL_COMMANDS = """
_ip = get_ipython()
_system = _ip.system


def _checked_system(cmd):
    _system(cmd)
    status = _ip.user_ns.get("_exit_code", 0)
    if status:
        raise RuntimeError(f"shell command exited with status {status}: {cmd}")


_ip.system = _checked_system
"""
# What model code looks like: defining classes, or building Keras layers and models.
MODEL_CODE = re.compile(r"\b(keras|layers)\.(layers\.|Model\b|Sequential\b|Layer\b)|"
                        r"\bkeras\.models\.|\bnn\.Module\b")


def python_source(cell):
    """A code cell's source with IPython shell (``!``) and magic (``%``) lines blanked."""
    return "\n".join("" if line.lstrip().startswith(("!", "%")) else line
                     for line in cell.source.splitlines())


def test_there_are_notebooks_and_the_readme_lists_each():
    assert {"quickstart.ipynb", "clipcap.ipynb", "cgtgan.ipynb", "wgan.ipynb",
            "show_tell.ipynb", "vit_gpt2.ipynb"} <= set(NAMES)
    readme = open(os.path.join(NOTEBOOKS, "README.md"), encoding="utf-8").read()
    for name in NAMES:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_imports_tfcaption_and_defines_no_model(name):
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    nbformat.validate(nb)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    imports = set()
    for cell in cells:
        assert not cell.outputs and cell.execution_count is None, \
            f"{name}: commit notebooks without outputs"
        tree = ast.parse(python_source(cell))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.ClassDef), f"{name} defines class {node.name}"
            if isinstance(node, ast.ImportFrom):
                imports.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imports.update(alias.name.split(".")[0] for alias in node.names)
        assert not MODEL_CODE.search(python_source(cell)), f"{name}: model code in\n{cell.source}"
    assert "tfcaption" in imports, f"{name} does not import tfcaption"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path, monkeypatch):
    # The kernel inherits this environment: ``!python`` is this interpreter, matplotlib
    # draws off-screen, and the notebook's scratch folder is the test's.
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("NOTEBOOK_SCRATCH", str(tmp_path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(CHECK_SHELL_COMMANDS))
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": NOTEBOOKS}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    print(f"{name}: {time.perf_counter() - start:.1f} s")
    assert all(not any(o.output_type == "error" for o in c.get("outputs", []))
               for c in nb.cells if c.cell_type == "code")
