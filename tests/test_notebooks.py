"""Every tutorial notebook runs top to bottom headless (strokes scripted), outputs stripped in the repo."""
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def test_there_are_five_tutorials():
    names = [os.path.basename(n) for n in NOTEBOOKS]
    assert names == ["01_nuclei_quickstart.ipynb", "02_imc_three_classes.ipynb", "03_tuning_sigma_sets.ipynb",
                     "04_3d_nuclei.ipynb", "05_scale_out.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_outputs_stripped(path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


# Binder gives 2 GB to the server and the kernel together: the kernel must peak well below
BINDER_LIMIT = "2GiB"
KERNEL_PEAK = 1.5e9
PEAK_CELL = "print('VmHWM', [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tmp_path, monkeypatch):
    """Top to bottom without an error, as on Binder: its memory limit set, the kernel's peak read at the end."""
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", BINDER_LIMIT)  # the kernel inherits it: budgets as on Binder
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    if os.path.exists("/proc/self/status"):
        peak = int(nb.cells[-1].outputs[0]["text"].split()[1])
        print(f"{os.path.basename(path)}: kernel peak {peak / 1e9:.2f} GB")  # shown with pytest -s
        assert peak <= KERNEL_PEAK, f"{os.path.basename(path)}: kernel peaked at {peak / 1e9:.2f} GB (VmHWM)"
