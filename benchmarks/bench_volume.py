"""A volume bigger than memory: 192 x 2048 x 2048 x 2 uint16 OME-Zarr (3.2 GB, 3 levels).

``make``: writes benchmarks/_data/vol.ome.zarr from synthetic nuclei scenes (16 scenes of 48 x 512 x 512,
each used in 4 layers along z, every other one mirrored), level by level, never whole in memory.
``app``: in a child process with ``PIXCLASS_MEMORY_LIMIT=3GiB``: open lazily, the app's first frames in its
orthogonal views (xy plane z=120, xz and yz panes through the cursor); zoomed to 1:1 on the stroked region,
4 strokes across the three panes then Live Update (first complete overlay of the three panes), 10 strokes
1 s apart across the panes (stroke -> complete overlay of the three panes, median); then the whole plane
fitted (complete overlay); peak RSS (VmHWM); nucleus IoU on the
stroked 48 x 512 x 512 sub-volume read from the volume vs the same scene held in memory (same labels).
``batch``: the whole volume into a multiscale OME-Zarr on a dask LocalCluster of 2 workers (each with
``PIXCLASS_MEMORY_LIMIT=3GiB``), MVox/s, against the in-process batch of a 48 x 1024 x 1024 x 2 volume
that fits, same project and features (sigma 0.7, 1.6, 3.5: 3D features, 100 trees).

``flat`` (run alone, with ``PIXCLASS_MEMORY_LIMIT=2GiB``): a 200 x 8192 x 8192 x 2 volume without a pyramid,
fitted in the three views (see :func:`flat`).

Run: python benchmarks/bench_volume.py [make|app|batch]   (no argument: all three, each in its own process)
     PIXCLASS_MEMORY_LIMIT=2GiB python benchmarks/bench_volume.py flat
"""
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from _common import machine, peak_rss_mb

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "_data")
VOL = os.path.join(DATA, "vol.ome.zarr")
SHAPE = (192, 2048, 2048)
TILE = (48, 512, 512)
FEATURES = pc.FeatureSet(sigmas=[0.7, 1.6, 3.5])
PAUSE = 1.0


def scene(ty, tx):
    """The synthetic scene of tile row ``ty``, column ``tx``: image and truth."""
    return pc.datasets.nuclei(TILE, seed=4000 + 4 * ty + tx)


def make():
    from jupyter_pixclass.images.ome_zarr import create_ome_zarr

    if os.path.exists(VOL):
        print(f"{VOL} exists")
        return
    os.makedirs(DATA, exist_ok=True)
    t = time.perf_counter()
    with create_ome_zarr(VOL, (2,) + SHAPE, np.uint16, "CZYX", spacing=(2.0, 0.5, 0.5), unit="micrometer",
                         channel_names=["cytoplasm", "DAPI"]) as level0:
        for ty in range(4):
            for tx in range(4):
                img, _ = scene(ty, tx)
                block = np.moveaxis(img.data, -1, 0)
                for tz in range(4):
                    b = block if tz % 2 == 0 else block[:, ::-1]
                    level0[:, tz * 48:(tz + 1) * 48, ty * 512:(ty + 1) * 512, tx * 512:(tx + 1) * 512] = b
    print(f"wrote {VOL} ({np.prod(SHAPE) * 4 / 1e9:.1f} GB of pixels, 3 levels) in {time.perf_counter() - t:.0f} s")


def trained():
    """A project trained on strokes in the sub-volume of tile (1, 1), layer 2 (z 96..143), in memory."""
    img, truth = scene(1, 1)
    p = pc.Project(features=FEATURES, n_estimators=100)
    p.set_labels(p.add_image(img), pc.datasets.scribbles(truth["classes"], n_strokes=6, mapping={1: 1, 2: 2, 3: 2}))
    return p.train()


def iou(seg, cls):
    return ((seg == 1) & (cls == 1)).sum() / max(((seg == 1) | (cls == 1)).sum(), 1)


def pane_strokes(cls3d, z0, y0, x0, cy, cx):
    """Strokes on the xy, xz and yz panes through (z 120, ``cy``, ``cx``), from the truth of the stroked tile.

    Returns ``[(plane, points, class), ...]`` alternating panes and classes, points in each pane's
    (horizontal, vertical) image coordinates.
    """
    cut = {"xy": (cls3d[120 - z0], x0, y0), "xz": (cls3d[:, cy - y0], x0, z0), "yz": (cls3d[:, :, cx - x0], y0, z0)}
    found = {}
    for plane, (sec, oh, ov) in cut.items():
        got = pc.datasets.strokes(sec, n_strokes=8, length=30, radius=2, mapping={1: 1, 2: 2, 3: 2}, seed=0)
        found[plane] = {k: [[(h + oh, v + ov) for h, v in pts] for pts, kk in got if kk == k] for k in (1, 2)}
    out = []
    for i in range(5):
        for plane in ("xy", "xz", "yz"):
            k = 1 + (i + len(out)) % 2
            if found[plane][k]:
                out.append((plane, found[plane][k].pop(0), k))
    return out


def app():
    assert os.environ.get("PIXCLASS_MEMORY_LIMIT") == "3GiB"
    t = time.perf_counter()
    img = pc.load_image(VOL)
    t_open = time.perf_counter() - t
    p = pc.Project(features=FEATURES, n_estimators=100)
    p.add_image(img)
    t = time.perf_counter()
    a = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    assert a.orthoviews  # a volume opens in three views
    a.cursor = (120, 768, 768)
    t_view = time.perf_counter() - t
    _, truth = scene(1, 1)
    strokes = pane_strokes(truth["classes"], 96, 512, 512, 768, 768)
    a.show_box(618, 618, 918, 918)  # 1:1 around the stroked region, as a person paints
    assert abs(a.view.scale - 1) < 1e-6
    for plane, pts, k in strokes[:4]:
        a.stroke(pts, k, radius=2, plane=plane)
    time.sleep(3)
    t = time.perf_counter()
    a.live_update = True
    a.wait_idle(600)
    t_first = time.perf_counter() - t
    assert all(q.complete() for q in [a.prediction] + a.ortho.predictions())
    totals, firsts = [], []
    for plane, pts, k in strokes[4:14]:
        time.sleep(PAUSE)
        a.stroke(pts, k, radius=2, plane=plane)
        a.wait_idle(600)
        totals.append(a.timings["total"])
        firsts.append(a.timings["first"])
    parts = dict(a.timings)
    n_pieces = (len(a.prediction.vf), [len(q.vf) for q in a.ortho.predictions()])
    time.sleep(PAUSE)
    t = time.perf_counter()
    a.fit()  # the whole 2048 x 2048 plane and the panes across it: 3D features of every row the canvases sample
    a.wait_idle(900)
    t_fit = time.perf_counter() - t
    print(f"machine: {machine()}")
    print(f"volume {SHAPE}x2 uint16 OME-Zarr (spacing z 2.0, y x 0.5 um), lazily opened under PIXCLASS_MEMORY_LIMIT=3GiB:")
    print(f"  open: {t_open:.2f} s; the app's first frames, xy plane z=120 and the xz / yz panes through y=x=768 "
          f"(from the pyramid level that fits the 600x600 canvas): {t_view:.2f} s")
    print(f"  at 1:1 (xy 600x600, xz and yz panes 600x200 = 50 planes at 4 rows a plane), 4 strokes across the panes "
          f"then Live Update: complete overlay of the three panes after {t_first:.1f} s")
    print(f"  10 strokes 1 s apart across the three panes ({', '.join(s[0] for s in strokes[4:14])}): stroke -> complete "
          f"overlay of the three panes median {statistics.median(totals):.2f} s (max {max(totals):.2f}), first overlay "
          f"median {statistics.median(firsts):.2f} s; pieces xy {n_pieces[0]}, xz/yz {n_pieces[1]}; last update's parts: "
          + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    print(f"  then fit the whole 2048x2048 plane (and the panes across it): complete overlay after {t_fit:.1f} s")
    print(f"  labels: {len(p.labels(0).chunks)} chunks painted, {p.labels(0).nbytes / 2**20:.1f} MB; "
          f"peak RSS (VmHWM) {peak_rss_mb():.0f} MB")
    a.close()
    sub = pc.Image(img.data[96:144, 512:1024, 512:1024], axes="ZYXC")  # read: 50 MB; the scenes are isotropic
    ref = trained()
    lazy_p = pc.Project(features=FEATURES, n_estimators=100)
    lazy_p.set_labels(lazy_p.add_image(sub), ref.labels(0))
    seg_lazy = lazy_p.train().segment(0)
    seg_mem = ref.segment(0)
    truth_l2 = truth["classes"]  # layer 2 is not mirrored: the tile as generated
    print(f"  nucleus IoU on the 48x512x512 sub-volume, same labels: read from the volume {iou(seg_lazy, truth_l2):.4f}, "
          f"the scene in memory {iou(seg_mem, truth_l2):.4f} (the sub-volume's borders see its neighbours)")


def batch():
    import h5py
    from dask.distributed import Client, LocalCluster

    p = trained()
    tmp = os.path.join(DATA, "batch_out")
    os.makedirs(tmp, exist_ok=True)
    small = os.path.join(DATA, "fits.h5")
    if not os.path.exists(small):
        with h5py.File(small, "w") as f:
            d = f.create_dataset("raw", shape=(48, 2, 1024, 1024), dtype=np.uint16, chunks=(8, 2, 256, 256))
            d.attrs["axes"] = "ZCYX"
            for ty in range(2):
                for tx in range(2):
                    img, _ = scene(ty, tx)
                    d[:, :, ty * 512:(ty + 1) * 512, tx * 512:(tx + 1) * 512] = np.moveaxis(img.data, -1, 1)
    t = time.perf_counter()
    pc.batch_predict(p, small, tmp, format="hdf5", overwrite=True, progress=False, max_voxels=2**31)
    dt_mem = time.perf_counter() - t
    mv_mem = 48 * 1024 * 1024 / 1e6
    os.environ["PIXCLASS_MEMORY_LIMIT"] = "3GiB"  # the workers' budget (they inherit it)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit="3GiB") as cluster, Client(cluster) as client:
        t = time.perf_counter()
        outs = pc.batch_predict(p, VOL, tmp, format="ome-zarr", scheduler=client, overwrite=True, progress=False,
                                source="simple_segmentation", dtype="uint8")
        dt = time.perf_counter() - t

        def vmhwm():
            with open("/proc/self/status") as f:
                return int(next(line for line in f if line.startswith("VmHWM")).split()[1]) / 1024

        peaks = client.run(vmhwm)
    mv = np.prod(SHAPE) / 1e6
    print(f"batch, {FEATURES.n_features(2, 3)} 3D features, 100 trees:")
    print(f"  whole volume {SHAPE}x2 -> {os.path.basename(outs[0])} (multiscale segmentation) on a LocalCluster of "
          f"2 workers: {dt:.0f} s, {mv / dt:.2f} MVox/s; workers' peak RSS {', '.join(f'{v:.0f}' for v in peaks.values())} MB")
    print(f"  in-process batch of a 48x1024x1024x2 volume that fits (HDF5 in and out): {dt_mem:.0f} s, "
          f"{mv_mem / dt_mem:.2f} MVox/s; ratio cluster / in-process {mv / dt / (mv_mem / dt_mem):.2f}")


def flat():
    """A 200 x 8192 x 8192 x 2 uint16 volume in a plain HDF5 file (no pyramid; chunks never written read as 0,
    one bright block), under PIXCLASS_MEMORY_LIMIT=2GiB: open, 3 strokes (two on xy, one on xz), Live Update,
    then the whole plane fitted in the three views; peak RSS (VmHWM) of each phase."""
    import tempfile

    import h5py

    from _common import reset_peak_rss

    assert os.environ.get("PIXCLASS_MEMORY_LIMIT") == "2GiB"
    path = os.path.join(tempfile.mkdtemp(), "flat.h5")
    with h5py.File(path, "w") as f:
        d = f.create_dataset("data", shape=(200, 8192, 8192, 2), dtype="uint16", chunks=(8, 256, 256, 2))
        d[90:110, 4000:4200, 4000:4200, 1] = 1000
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 2.0]))
    p.add_image(pc.load_image(path, axes="ZYXC"))
    reset_peak_rss()
    a = pc.PixelClassifierApp(p, canvas_size=(400, 400))
    a.z = 100
    a.zoom(20)
    a.stroke([(4100, 4100), (4150, 4150)], 1, radius=3)
    a.stroke([(3000, 3000), (3050, 3050)], 2, radius=3)
    a.stroke([(4100, 95), (4150, 105)], 1, radius=2, plane="xz")
    time.sleep(PAUSE)
    t = time.perf_counter()
    a.live_update = True
    a.wait_idle(300)
    t_live, rss_live = time.perf_counter() - t, peak_rss_mb()
    reset_peak_rss()
    time.sleep(PAUSE)
    t = time.perf_counter()
    a.fit()
    a.wait_idle(900)
    t_fit = time.perf_counter() - t
    print(f"200x8192x8192x2 uint16, plain HDF5 (no pyramid), sigma 1 and 2 in 3D, canvas 400x400, memory budget "
          f"{p.engine.cache.max_bytes / 2**20:.0f} MB:")
    print(f"  3 strokes at 1:20 zoom, Live Update: complete in {t_live:.1f} s, peak RSS {rss_live:.0f} MB")
    print(f"  the whole plane in the three views: complete in {t_fit:.1f} s, peak RSS {peak_rss_mb():.0f} MB")
    a.close()


def main():
    steps = sys.argv[1:] or ["make", "app", "batch"]
    if len(steps) == 1:
        return {"make": make, "app": app, "batch": batch, "flat": flat}[steps[0]]()
    for s in steps:
        env = dict(os.environ, PIXCLASS_MEMORY_LIMIT="3GiB") if s == "app" else dict(os.environ)
        subprocess.run([sys.executable, os.path.abspath(__file__), s], check=True, cwd=HERE, env=env)


if __name__ == "__main__":
    sys.exit(main())
