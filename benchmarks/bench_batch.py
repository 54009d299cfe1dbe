"""Batch throughput (20 files of 1024x1024x2) and peak memory of a 128x1024x1024x2 uint16 volume.

The volume case runs in a child process so its peak RSS is its own.
"""
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import tifffile

import jupyter_pixclass as pc
from jupyter_pixclass.features.blocks import block_for_budget
from _common import machine

HERE = os.path.dirname(os.path.abspath(__file__))


def trained_project(fs=None, shape=(512, 512)):
    img, t = pc.datasets.nuclei(shape, seed=1)
    p = pc.Project(features=fs or pc.FeatureSet.default(), n_estimators=100)
    p.set_labels(p.add_image(img), pc.datasets.scribbles(t["classes"], n_strokes=12, mapping={1: 1, 2: 2, 3: 2}))
    return p.train()


def throughput(tmp):
    p = trained_project()
    os.makedirs(f"{tmp}/in", exist_ok=True)
    for s in range(20):
        im, _ = pc.datasets.nuclei((1024, 1024), seed=50 + s)
        tifffile.imwrite(f"{tmp}/in/img{s:02d}.tif", np.moveaxis(im.data, -1, 0), imagej=True, metadata={"axes": "CYX"})
    t = time.perf_counter()
    outs = pc.batch_predict(p, f"{tmp}/in/*.tif", f"{tmp}/out", dtype="uint16", renormalize=True, progress=False)
    dt = time.perf_counter() - t
    mp = 20 * 1024 * 1024 / 1e6
    print(f"batch: {len(outs)} files 1024x1024x2, default features, 100 trees -> uint16 TIFF: {dt:.1f} s, "
          f"{mp / dt:.2f} MP/s, {dt / 20:.2f} s per file")


def volume_child(tmp):
    """Make the volume and a project, then run `pixclass batch` on it as a user would, in its own process."""
    import h5py

    p = trained_project(pc.FeatureSet(sigmas=[0.7, 1.6, 3.5]), shape=(32, 256, 256))  # trained on a volume
    p.save(f"{tmp}/project.h5")
    shape = (128, 1024, 1024)
    path = f"{tmp}/vol.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("raw", shape=shape[:1] + (2,) + shape[1:], dtype=np.uint16, chunks=(16, 2, 256, 256))
        d.attrs["axes"] = "ZCYX"
        for z0 in range(0, shape[0], 16):  # written in slabs: never the whole volume in memory
            v, _ = pc.datasets.nuclei((16, 256, 256), seed=z0)
            d[z0 : z0 + 16] = np.tile(np.moveaxis(v.data, -1, 1), (1, 1, 4, 4))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jupyter_pixclass.cli", "batch", f"{tmp}/project.h5", path, "-o",
                    f"{tmp}/vout", "--format", "hdf5", "--no-progress"], check=True)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with h5py.File(f"{tmp}/vout/vol_probabilities.h5") as f:
        out_shape = f["exported_data"].shape
    block = "x".join(map(str, block_for_budget(shape, p.features, 2)))
    print(f"3D volume 128x1024x1024x2 uint16 via `pixclass batch` (HDF5 in, HDF5 out {out_shape}, default blocks "
          f"{block}, {p.features.n_features(2, 3)} 3D features): {dt:.0f} s, "
          f"{128 * 1024 * 1024 / 1e6 / dt:.2f} MVox/s; peak RSS of the batch process {rss:.0f} MB")


def main():
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1 and sys.argv[1] == "--volume":
            volume_child(tmp)
            return
        throughput(tmp)
    subprocess.run([sys.executable, os.path.abspath(__file__), "--volume"], check=True, cwd=HERE)


if __name__ == "__main__":
    sys.exit(main())
