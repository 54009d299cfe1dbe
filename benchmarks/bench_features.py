"""Feature throughput: ours (default set, 98 features) vs scikit-image multiscale_basic_features.

Same 1024x1024 2-channel image, same run. Also: the same features built from scipy.ndimage
1D passes (what we would do without our own filters), and a 3D volume's time and peak memory.
Run: python benchmarks/bench_features.py
"""
import os
import subprocess
import sys

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import multiscale_basic_features

import jupyter_pixclass as pc
from _common import current_rss_mb, machine, peak_rss_mb, reset_peak_rss, timeit


def scipy_features(data, fs):
    """The default feature set with scipy.ndimage's gaussian_filter (one kernel per pass)."""
    out = []
    for c in range(data.shape[-1]):
        x = data[..., c].astype(np.float32)
        for f, s in fs.pairs:
            g = lambda o: ndi.gaussian_filter(x, s, order=o, output=np.float32)  # noqa: E731
            if f == "gaussian":
                out.append(g((0, 0)))
            elif f == "log":
                out.append(g((2, 0)) + g((0, 2)))
            elif f == "gradient_magnitude":
                out.append(np.hypot(g((1, 0)), g((0, 1))))
            elif f == "dog":
                out.append(g((0, 0)) - ndi.gaussian_filter(x, 0.66 * s, output=np.float32))
            elif f == "hessian_eigenvalues":
                a, b, d = g((2, 0)), g((1, 1)), g((0, 2))
                r = np.sqrt(((a - d) / 2) ** 2 + b * b)
                out += [(a + d) / 2 + r, (a + d) / 2 - r]
            else:
                gy, gx = g((1, 0)), g((0, 1))
                a, b, d = (ndi.gaussian_filter(p, 0.5 * s, output=np.float32) for p in (gy * gy, gy * gx, gx * gx))
                r = np.sqrt(((a - d) / 2) ** 2 + b * b)
                out += [(a + d) / 2 + r, (a + d) / 2 - r]
    return out


class NullSink:
    """Accepts feature blocks and drops them: measures compute and working memory, not storage."""

    def __init__(self, shape):
        self.shape = shape

    def __setitem__(self, key, value):
        pass


def main():
    img, _ = pc.datasets.nuclei((1024, 1024), seed=0)
    fs = pc.FeatureSet.default()
    F = fs.n_features(2, 2)
    ours, ours_min = timeit(lambda: pc.compute_features(img, fs), repeat=7)
    sk_data = img.data.astype(np.float32)
    sk_feats = multiscale_basic_features(sk_data, channel_axis=-1)
    sk, sk_min = timeit(lambda: multiscale_basic_features(sk_data, channel_axis=-1), repeat=3)
    Fsk = sk_feats.shape[-1]
    sc, _ = timeit(lambda: scipy_features(img.data, fs), repeat=2, warmup=0)
    per_ours, per_sk, per_sc = ours / F * 1e3, sk / Fsk * 1e3, sc / F * 1e3
    print(f"machine: {machine()}")
    print("1024x1024x2, median of runs:")
    print(f"  jupyter-pixclass default set: {F} features in {ours:.3f} s (min {ours_min:.3f}) = {per_ours:.2f} ms/feature")
    print(f"  scikit-image multiscale_basic_features: {Fsk} features in {sk:.3f} s (min {sk_min:.3f}) = {per_sk:.2f} ms/feature")
    print(f"  same default set via scipy.ndimage passes: {sc:.3f} s = {per_sc:.2f} ms/feature")
    print(f"  per-feature throughput ratio vs scikit-image: {per_sk / per_ours:.1f}x")
    print(f"  per-feature throughput ratio vs scipy.ndimage passes: {per_sc / per_ours:.1f}x")

    for block in ["64,512,512", "32,256,256", "2d"]:
        subprocess.run([sys.executable, os.path.abspath(__file__), "--volume", block], check=True)


def volume(block):
    """One 3D configuration per process, so its peak RSS is its own."""
    import time

    shape = (64, 512, 512)
    vol, _ = pc.datasets.nuclei(shape, seed=0)
    fs = pc.FeatureSet.default()
    if block == "2d":
        fs.mode = "2d"
        blk = (8, 512, 512)
    else:
        blk = tuple(int(b) for b in block.split(","))
    F = fs.n_features(2, 2 if block == "2d" else 3)
    before = current_rss_mb()  # the volume and the imports
    reset_peak_rss()
    t = time.perf_counter()
    pc.compute_features(vol, fs, block=blk, out=NullSink((F,) + shape))
    dt = time.perf_counter() - t
    what = "plane by plane (mode='2d')" if block == "2d" else "true 3D"
    print(f"3D {shape}x2 uint16, default set {what}: {F} features ({F * vol.data[..., 0].size * 4 / 1e9:.1f} GB "
          f"if kept), blocks {blk}: {dt:.1f} s = {dt / (vol.data[..., 0].size / 1e6):.2f} s/megavoxel; "
          f"peak RSS {peak_rss_mb():.0f} MB, of which {before:.0f} MB input + imports")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--volume":
        sys.exit(volume(sys.argv[2]))
    sys.exit(main())
