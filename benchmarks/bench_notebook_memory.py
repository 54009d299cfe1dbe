"""Peak memory of a tutorial notebook's kernel, cell by cell, as on Binder.

Runs the notebook with ``PIXCLASS_MEMORY_LIMIT`` (default 2GiB, Binder's limit, which the kernel cannot see
in /proc/meminfo) and a probe cell after every code cell that prints the kernel's VmHWM (peak RSS from the
OS) and VmRSS. Usage::

    python benchmarks/bench_notebook_memory.py notebooks/02_imc_three_classes.ipynb [--limit 2GiB]
"""
import argparse
import os
import tempfile
import time

import nbformat
from nbclient import NotebookClient

PROBE = ("print('MEM', *[int(l.split()[1]) * 1024 for l in open('/proc/self/status') "
         "if l.startswith(('VmHWM', 'VmRSS'))])")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("--limit", default="2GiB", help="PIXCLASS_MEMORY_LIMIT for the kernel")
    args = ap.parse_args()
    os.environ["PIXCLASS_MEMORY_LIMIT"] = args.limit  # the kernel inherits it
    nb = nbformat.read(args.notebook, as_version=4)
    cells, firsts = [], []
    for c in nb.cells:
        cells.append(c)
        if c.cell_type == "code":
            firsts.append(c.source.strip().splitlines()[0][:60] if c.source.strip() else "")
            cells.append(nbformat.v4.new_code_cell(PROBE))
    nb.cells = cells
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": d}}).execute()
    probes = [c for c in nb.cells if c.cell_type == "code" and c.source == PROBE]
    print(f"{os.path.basename(args.notebook)} with PIXCLASS_MEMORY_LIMIT={args.limit}: "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"{'cell':>4s}  {'peak GB':>7s}  {'now GB':>6s}  first line")
    for i, (c, first) in enumerate(zip(probes, firsts), 1):
        _, hwm, rss = c.outputs[0]["text"].split()
        print(f"{i:4d}  {int(hwm) / 1e9:7.2f}  {int(rss) / 1e9:6.2f}  {first}")


if __name__ == "__main__":
    main()
