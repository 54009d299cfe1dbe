"""A volume saved one TIFF a plane: ``pc.load_image("z_*.tif")`` and an ilastik stack lane, against tifffile.

``python benchmarks/bench_stacks.py [planes] [side]`` (default 128 planes of 2048 x 2048 uint16, 1 GiB)
writes the planes to a temporary folder, and the same volume as one HDF5 file, then, after a 3 s pause
before each cold call (medians of 3): ``tifffile.imread(pattern)`` (the library's own stacked read),
``pc.load_image(pattern)``, ``pc.load_image(pattern, lazy=True)`` and a 512 x 512 region of every plane,
``pc.Project.from_ilastik`` of a project whose lane names the planes as
ilastik 1.4 writes a stack (files joined by ``:``), and of one whose lane is the HDF5 file; peak memory
(VmHWM) of each, measured in its own process; then a person's session on the stack project (open it, four
strokes on the middle plane with Live Update, 1 s apart, save, open the saved project), once.
``PYTHONPATH=<worktree>`` runs another version's code; ``PIXCLASS_MEMORY_LIMIT=2GiB`` sets Binder's budget.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine  # noqa: E402

CHILD = r'''
import json, os, sys, time
sys.path.insert(1, sys.argv[3])
from _common import peak_rss_mb, reset_peak_rss, timeit
import numpy as np
import tifffile
import jupyter_pixclass as pc
print(pc.__file__, file=sys.stderr)
what, folder = sys.argv[1], sys.argv[2]
pattern = folder + "/z_*.tif"
if what == "tifffile":
    fn = lambda: tifffile.imread(pattern, ioworkers=1)
elif what == "load_image":
    fn = lambda: pc.load_image(pattern).data
elif what == "lazy":  # left in the files: open, then one 512 x 512 column through every plane
    fn = lambda: pc.load_image(pattern, lazy=True).data[:, 512:1024, 512:1024]
elif what == "project":  # a person's session: open the stack project, 4 strokes on a middle plane, save, open
    reset_peak_rss()
    t0 = time.perf_counter()
    p = pc.Project.from_ilastik(f"{folder}/stack.ilp")
    t_open = time.perf_counter() - t0
    p.features = pc.FeatureSet(sigmas=[1.0, 3.5], families=["gaussian", "gradient_magnitude", "hessian_eigenvalues"])
    app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    z, side, strokes = p.images[0].shape[0] // 2, p.images[0].shape[2], []
    for i, k in enumerate((1, 2, 1, 2)):
        time.sleep(1.0)
        y = side * (2 * i + 1) // 8
        app.stroke([(side // 8, y), (side // 4, y)], k, radius=4, z=z)
        t0 = time.perf_counter()
        app.live_update = True
        app.wait_idle(600)
        strokes.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    p.save(f"{folder}/project.h5")
    t_save = time.perf_counter() - t0
    t0 = time.perf_counter()
    q = pc.Project.load(f"{folder}/project.h5")
    t_load = time.perf_counter() - t0
    print(json.dumps({"what": what, "open_s": t_open, "strokes_s": strokes, "save_s": t_save, "load_s": t_load,
                      "project_mb": os.path.getsize(f"{folder}/project.h5") / 1e6, "lazy": bool(q.images[0].lazy),
                      "peak_mb": peak_rss_mb()}))
    sys.exit()
else:
    fn = lambda: pc.Project.from_ilastik(f"{folder}/{what}.ilp").images[0].data
reset_peak_rss()
med, lo = timeit(fn, repeat=3, warmup=0, pause=3.0)
print(json.dumps({"what": what, "median_s": med, "min_s": lo, "peak_mb": peak_rss_mb()}))
'''


def main():
    import h5py
    import tifffile

    planes = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-stacks-") as folder:
        plane = (rng.random((side, side)) * 4000).astype(np.uint16)
        names = []
        for z in range(planes):
            names.append(f"z_{z:04d}.tif")
            tifffile.imwrite(os.path.join(folder, names[-1]), np.roll(plane, z, axis=0))
        with h5py.File(os.path.join(folder, "raw.h5"), "w") as f:
            f["data"] = np.stack([np.roll(plane, z, axis=0) for z in range(planes)])[..., None]
        for name, file_path in (("stack", ":".join(names)), ("file", "raw.h5/data")):  # ilastik 1.4's lanes
            with h5py.File(os.path.join(folder, f"{name}.ilp"), "w") as f:
                f["workflowName"] = b"Pixel Classification"
                rd = f.create_group("Input Data/infos/lane0000/Raw Data")
                rd["__class__"] = b"RelativeFilesystemDatasetInfo"
                rd["filePath"] = file_path.encode()
                rd["axistags"] = json.dumps({"axes": [{"key": a, "typeFlags": 1 if a == "c" else 2,
                                                       "resolution": 0, "description": ""} for a in "zyxc"]}).encode()
                f["PixelClassification/LabelNames"] = np.array([b"Nucleus", b"Background"])
        gib = planes * plane.nbytes / 2**30
        print(f"{machine()}; {planes} planes of {side} x {side} uint16 ({gib:.2f} GiB), one TIFF a plane")
        for what in ("tifffile", "load_image", "lazy", "stack", "file", "project"):
            out = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, what, folder,
                                  os.path.dirname(os.path.abspath(__file__))], capture_output=True, text=True,
                                 cwd=folder)  # not this checkout's folder: PYTHONPATH picks the code
            if out.returncode:
                print(what, "failed:", out.stderr.strip().splitlines()[-1][:300])
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if what == "project":
                print(f"ilastik stack project, a session: open {r['open_s']:.2f} s (left in its files: {r['lazy']}), "
                      f"4 strokes until the overlay is complete {', '.join(f'{t:.2f}' for t in r['strokes_s'])} s, "
                      f"save {r['save_s']:.2f} s ({r['project_mb']:.1f} MB), open the saved project "
                      f"{r['load_s']:.2f} s, peak RSS {r['peak_mb']:.0f} MB")
                continue
            label = {"stack": "ilastik stack lane", "file": "ilastik HDF5 lane",
                     "lazy": "lazy, 512² column"}.get(what, what)
            print(f"{label:>18}: median {r['median_s']:.2f} s (min {r['min_s']:.2f}), peak RSS {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
