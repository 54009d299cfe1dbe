"""A volume saved one TIFF a plane: ``pc.load_image("z_*.tif")`` and an ilastik stack lane, against tifffile.

``python benchmarks/bench_stacks.py [planes] [side]`` (default 128 planes of 2048 x 2048 uint16, 1 GiB)
writes the planes to a temporary folder, and the same volume as one HDF5 file, then, after a 3 s pause
before each cold call (medians of 3): ``tifffile.imread(pattern)`` (the library's own stacked read),
``pc.load_image(pattern)``, ``pc.load_image(pattern, lazy=True)`` and a 512 x 512 region of every plane,
``pc.Project.from_ilastik`` of a project whose lane names the planes as
ilastik 1.4 writes a stack (files joined by ``:``), and of one whose lane is the HDF5 file; peak memory
(VmHWM) of each, measured in its own process. ``PYTHONPATH=<worktree>`` runs another version's code.
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
import json, sys, time
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
        for what in ("tifffile", "load_image", "lazy", "stack", "file"):
            out = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, what, folder,
                                  os.path.dirname(os.path.abspath(__file__))], capture_output=True, text=True,
                                 cwd=folder)  # not this checkout's folder: PYTHONPATH picks the code
            if out.returncode:
                print(what, "failed:", out.stderr.strip().splitlines()[-1][:300])
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            label = {"stack": "ilastik stack lane", "file": "ilastik HDF5 lane",
                     "lazy": "lazy, 512² column"}.get(what, what)
            print(f"{label:>18}: median {r['median_s']:.2f} s (min {r['min_s']:.2f}), peak RSS {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
