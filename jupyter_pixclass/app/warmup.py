"""Compiling what a session runs before a person waits for it: ``python -m jupyter_pixclass.app.warmup``.

numba compiles each kernel at its first call and keeps the result on disk (``cache=True``).
Training a project and predicting an image compile only part of what Live Update runs: after
just those, the first Live Update of a zoomed-out 1024 x 1024 view in a fresh environment took
3.3 s, 1.8 s after this, 21 s with nothing compiled (``benchmarks/bench_first_session.py``).
Binder's build (``binder/postBuild``) runs this, so a workshop's first stroke does not wait for
the compiler.
"""
from __future__ import annotations

import sys
import time

__all__ = ["warm_up"]


def warm_up():
    """Run every compiled path of the app once, on tiny images; the seconds it took.

    Live Update on a 2D image zoomed out (its shown pixels kept in blocks) and zoomed in (kept
    tiles), a volume with its xz and yz panes, and a whole image predicted.
    """
    from ..datasets import nuclei
    from ..images.image import Image
    from ..project import Project
    from .main import PixelClassifierApp

    t0 = time.perf_counter()
    for shape, canvas in (((256, 256), (96, 96)), ((8, 48, 48), (48, 48))):
        img, truth = nuclei(shape, seed=0)
        p = Project()
        p.add_image(img)
        app = PixelClassifierApp(p, canvas_size=canvas)
        try:
            z = {} if len(shape) == 2 else {"z": shape[0] // 2}
            app.stroke([(10, 10), (20, 14)], 1, radius=2, **z)
            app.stroke([(30, 30), (40, 34)], 2, radius=2, **z)
            app.live_update = True
            app.wait_idle(600)
            if len(shape) == 3:
                app.stroke([(5, 2), (20, 4)], 2, radius=1, plane="xz")
            app.zoom(4)
            app.stroke([(12, 12), (16, 16)], 1, radius=2, **z)
            app.wait_idle(600)
        finally:
            app.close()
        p.predict(Image(img.data, axes=img.axes))  # not the project's image: the whole-image path
    return time.perf_counter() - t0


if __name__ == "__main__":  # pragma: no cover - the build step
    print(f"jupyter-pixclass: kernels compiled in {warm_up():.0f} s", file=sys.stderr)
