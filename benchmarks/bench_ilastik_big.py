"""An ilastik project whose image is larger than memory, opened and painted as a person would.

``PIXCLASS_MEMORY_LIMIT=2GiB python benchmarks/bench_ilastik_big.py``: a 200 x 2048 x 2048 x 2 uint16 volume
(3.1 GiB) in an HDF5 file, an ``.ilp`` that names it (as ilastik 1.4 writes an external lane, two label blocks on
plane 100), then ``Project.from_ilastik``, the app on plane 100 with Live Update, 5 strokes with 1 s pauses.
Prints the time to open, stroke -> complete overlay, and the peak RSS (VmHWM).
"""
import os
import statistics
import tempfile
import time

import h5py
import numpy as np

import jupyter_pixclass as pc
from _common import machine, peak_rss_mb, reset_peak_rss

PAUSE = 1.0


def write_files(folder):
    """The volume and an .ilp naming it; written once."""
    os.makedirs(folder, exist_ok=True)
    raw, ilp = os.path.join(folder, "bigvol.h5"), os.path.join(folder, "bigvol.ilp")
    if not os.path.exists(raw):
        v, _ = pc.datasets.nuclei((25, 512, 512), seed=3)
        with h5py.File(raw + ".part", "w") as f:
            d = f.create_dataset("data", shape=(200, 2048, 2048, 2), dtype=np.uint16, chunks=(8, 256, 256, 2))
            for z in range(0, 200, 25):
                d[z:z + 25] = np.tile(v.data, (1, 4, 4, 1))
        os.replace(raw + ".part", raw)
    with h5py.File(ilp, "w") as f:
        f["workflowName"] = b"Pixel Classification"
        f["Input Data/StorageVersion"] = b"0.2"
        f["PixelClassification/LabelNames"] = np.array([b"Nucleus", b"Background"])
        f["PixelClassification/LabelColors"] = np.array([[255, 0, 0], [0, 0, 255]])
        rd = f.create_group("Input Data/infos/lane0000/Raw Data")
        rd["location"], rd["filePath"], rd["axisorder"] = b"FileSystem", b"bigvol.h5/data", b"zyxc"
        rd["nickname"] = b"bigvol"
        for b, (sl, val, shape) in enumerate([("[100:101,1000:1010,1000:1040,0:1]", 1, (1, 10, 40, 1)),
                                              ("[100:101,1200:1204,900:960,0:1]", 2, (1, 4, 60, 1))]):
            ds = f.create_dataset(f"PixelClassification/LabelSets/labels000/block{b:04d}",
                                  data=np.full(shape, val, np.uint8))
            ds.attrs["blockSlice"] = sl.encode()
        g = f.create_group("FeatureSelections")
        g["FeatureIds"] = np.array([b"GaussianSmoothing", b"HessianOfGaussianEigenvalues"])
        g["Scales"] = np.array([1.0, 3.5])
        g["SelectionMatrix"] = np.ones((2, 2), bool)
    return ilp


def main():
    print(f"machine: {machine()}; memory limit {os.environ.get('PIXCLASS_MEMORY_LIMIT', 'none set')}")
    ilp = write_files(os.path.join(tempfile.gettempdir(), "pixclass_bench_ilastik_big"))
    time.sleep(3)
    reset_peak_rss()
    t = time.perf_counter()
    p = pc.Project.from_ilastik(ilp)
    opened = time.perf_counter() - t
    app = pc.PixelClassifierApp(p, canvas_size=(500, 500))
    app.z = 100
    app.live_update = True
    app.wait_idle(600)
    totals = []
    for i in range(5):
        time.sleep(PAUSE)
        y = 1100 + 20 * i
        app.stroke([(1100, y), (1130, y)], 1 + i % 2, radius=3)
        app.wait_idle(600)
        totals.append(app.timings["total"])
    print(f"{p.images[0]}: from_ilastik {opened:.2f} s; 5 strokes, stroke -> complete overlay median "
          f"{statistics.median(totals) * 1000:.0f} ms; peak RSS {peak_rss_mb():.0f} MB")
    app.close()


if __name__ == "__main__":
    main()
