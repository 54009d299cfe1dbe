"""A ground-truth mask set as labels: every pixel of an image labeled, then trained on.

``PIXCLASS_MEMORY_LIMIT=2GiB python benchmarks/bench_full_labels.py``: the nucleus / rest mask of a
2048 x 2048 x 2 scene (seed 0, 4.2 million labeled pixels, default features) as labels, ``Project.train()``,
then held-out nucleus IoU on two other scenes (seeds 1 and 2, noise 0.12), each forest seed 0 and 1. Each
variant runs in its own process for its own peak RSS (VmHWM), training after a 3 s pause; the first forest is then
painted on in the app (600 x 600 canvas, Live Update), 12 strokes with 1 s pauses, each relabeling pixels as the
other class: median stroke -> complete overlay (the held-out IoU is measured after them for forest seed 0):

- ``sample``: the label store's default budget (``STORE_BYTES``): beyond it, a sample of each class;
- ``every``: ``max_bytes`` set beyond any size: every labeled pixel's features held (what the store did before).
"""
import subprocess
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from _common import machine, peak_rss_mb

SIZE = 2048


def run(variant):
    img, truth = pc.datasets.nuclei((SIZE, SIZE), seed=0)
    tests = [pc.datasets.nuclei((1024, 1024), seed=s, noise=0.12) for s in (1, 2)]
    lab = np.where(truth["classes"] == 1, 1, 2).astype(np.uint8)
    ious, times, strokes = [], [], []
    for seed in (0, 1):
        p = pc.Project(random_state=seed)
        if variant == "every":
            p.store().max_bytes = 1 << 50
        p.add_image(img)
        p.set_labels(0, lab)
        time.sleep(3)
        t0 = time.perf_counter()
        p.train()
        times.append(time.perf_counter() - t0)
        if seed == 0:  # then painted on in the app, as a person refines what the mask taught
            app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
            app.live_update = True
            app.wait_idle()
            # strokes that change the mask's labels (the other class), so every one trains a new forest
            for pts, k in pc.datasets.strokes(truth["classes"], n_strokes=6, mapping={1: 2, 2: 1, 3: 1}, seed=3):
                time.sleep(1)
                t0 = time.perf_counter()
                app.stroke(pts, k)
                app.wait_idle()
                strokes.append(time.perf_counter() - t0)
            status = app.status
            app.close()
        for im, t in tests:
            fg, gt = p.predict(im)[..., 0] > 0.5, t["classes"] == 1
            ious.append((fg & gt).sum() / (fg | gt).sum())
        st = p.store()
        kept, labeled = st.n_kept(), st.n_labeled()
    print(f"{variant}: {labeled} labeled pixels, {kept} with features held; train (features of the labeled "
          f"pixels included) {times[0]:.1f} s / {times[1]:.1f} s; held-out nucleus IoU {np.mean(ious):.4f} "
          f"(per scene and seed {', '.join(f'{v:.4f}' for v in ious)}); stroke -> complete overlay median "
          f"{np.median(strokes) * 1000:.0f} ms; peak RSS {peak_rss_mb():.0f} MB\n  the last stroke: {status}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        run(sys.argv[1])
    else:
        print(machine())
        for v in ("sample", "every"):
            subprocess.run([sys.executable, __file__, v], check=False)
