"""Exporting a 2048x2048x2 scene's results: time, peak memory and file size per source and format.

Each case runs in a fresh process (peak RSS, VmHWM, is per process): the scene is made, 3 s pass (a
person between notebook cells), then one ``project.export`` is timed. Cases: the features (98 of
them, 1.5 GiB as float32) to HDF5, TIFF and NPY while they fit in memory, and to HDF5 within a 1 GiB
budget (``PIXCLASS_MEMORY_LIMIT=1GiB``, written block by block); probabilities and uncertainty of a
forest trained on a few hundred labeled pixels to HDF5 and TIFF. Beside each HDF5 file, how much
gzip (level 1, ilastik's setting) shrinks that source, measured on its first 512 rows: what decides
whether the source is worth compressing (``outputs.results.gzipped``).

Run: python benchmarks/bench_export.py
     (the code before a change: PYTHONPATH=<its worktree> python benchmarks/bench_export.py)
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

CASES = [("features", ".h5", None), ("features", ".tif", None), ("features", ".npy", None),
         ("features", ".h5", "1GiB"), ("probabilities", ".h5", None), ("probabilities", ".tif", None),
         ("uncertainty", ".h5", None)]


def one_case(source, suffix, folder):
    """Time one export in this process; print a JSON line."""
    import jupyter_pixclass as pc
    from _common import peak_rss_mb

    img, truth = pc.datasets.nuclei((2048, 2048), seed=1)
    p = pc.Project()
    p.add_image(img)
    if source != "features":
        c = truth["classes"]
        pick = np.random.default_rng(0).random(c.shape) < 0.0002
        p.set_labels(0, np.where(pick, np.where(c == 1, 1, 2), 0).astype(np.uint8))
        p.train()
    before = peak_rss_mb()
    time.sleep(3)
    out = os.path.join(folder, f"{source}{suffix}")
    t = time.perf_counter()
    p.export(0, out, source=source)
    dt = time.perf_counter() - t
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs) if os.path.isdir(out) \
        else os.path.getsize(out)
    row = {"seconds": dt, "peak_mb": peak_rss_mb(), "peak_before_mb": before, "file_mb": size / 1e6}
    if suffix == ".h5":
        import h5py

        with h5py.File(out) as f:
            d = f["exported_data"]
            part = np.ascontiguousarray(d[:512])
            row["gzip"] = d.compression or "none"
        t = time.perf_counter()
        row["gzip1_ratio"] = len(zlib.compress(part.tobytes(), 1)) / part.nbytes
        row["gzip1_mb_s"] = part.nbytes / 1e6 / (time.perf_counter() - t)
    print(json.dumps(row))


def main():
    from _common import machine

    print(f"machine: {machine()}")
    print("exporting results of a 2048x2048x2 scene (default features: 98), one fresh process a case, 3 s pause:")
    for source, suffix, limit in CASES:
        with tempfile.TemporaryDirectory() as folder:
            env = dict(os.environ)
            if limit:
                env["PIXCLASS_MEMORY_LIMIT"] = limit
            else:
                env.pop("PIXCLASS_MEMORY_LIMIT", None)
            r = subprocess.run([sys.executable, __file__, "--case", source, suffix, folder], env=env,
                               capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(__file__)))
            if r.returncode:
                print(f"  {source} {suffix}: failed\n{r.stderr[-2000:]}")
                continue
            row = json.loads(r.stdout.strip().splitlines()[-1])
            gz = (f", stored {row['gzip']}; gzip level 1 keeps {row['gzip1_ratio']:.0%} of it at "
                  f"{row['gzip1_mb_s']:.0f} MB/s") if "gzip" in row else ""
            print(f"  {source} to {suffix}{' within ' + limit if limit else ''}: {row['seconds']:.1f} s, peak RSS "
                  f"{row['peak_mb']:.0f} MB ({row['peak_before_mb']:.0f} before the export), file "
                  f"{row['file_mb']:.0f} MB{gz}")


if __name__ == "__main__":
    if "--case" in sys.argv:
        i = sys.argv.index("--case")
        sys.exit(one_case(*sys.argv[i + 1:i + 4]))
    sys.exit(main())
