"""A newcomer's first Live Update in a fresh environment: how long it waits for numba's compiler.

Each case runs in a fresh process with its own empty numba cache (``NUMBA_CACHE_DIR``): the
build step, if any, in one process, then the session in another (1024x1024x2, a 600x600 canvas,
two strokes, Live Update switched on after a 3 s pause, then one more stroke after 1 s). Cases:
nothing compiled ahead; the build step Binder ran before (training a tiny project and predicting
it); ``python -m jupyter_pixclass.app.warmup`` (what Binder's build and ``pixclass demo`` run now);
and the session run again on the warmed cache (everything compiled and loaded from disk).

Run: python benchmarks/bench_first_session.py
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import machine

OLD_BUILD = ("import jupyter_pixclass as pc; img, t = pc.datasets.nuclei((64, 64), seed=0); p = pc.Project(); "
             "i = p.add_image(img); p.set_labels(i, pc.datasets.scribbles(t['classes'], mapping={1: 1, 2: 2, 3: 2})); "
             "p.train().predict(i)")
SESSION = """
import json, time
t0 = time.perf_counter()
import jupyter_pixclass as pc
img, truth = pc.datasets.nuclei((1024, 1024), seed=1)
p = pc.Project()
p.add_image(img)
app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
app.stroke([(100, 100), (140, 120)], 1, radius=4)
app.stroke([(600, 600), (640, 620)], 2, radius=4)
t1 = time.perf_counter()
time.sleep(3)
t2 = time.perf_counter()
app.live_update = True
app.wait_idle(600)
t3 = time.perf_counter()
time.sleep(1)
t4 = time.perf_counter()
app.stroke([(300, 300), (320, 330)], 1, radius=4)
app.wait_idle(600)
t5 = time.perf_counter()
app.close()
print(json.dumps({"setup": t1 - t0, "first": t3 - t2, "next": t5 - t4}))
"""


def run(code, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def main():
    print(f"machine: {machine()}")
    print("first Live Update in a fresh environment (1024x1024x2, 600x600 canvas), seconds:")
    cases = (("nothing compiled ahead", None), ("the build step before (train + predict)", OLD_BUILD),
             ("python -m jupyter_pixclass.app.warmup", "from jupyter_pixclass.app.warmup import warm_up; warm_up()"))
    for name, build in cases:
        with tempfile.TemporaryDirectory() as cache:
            built = run(build, cache)[0] if build else 0.0
            r = json.loads(run(SESSION, cache)[1])
            line = (f"  {name}: build {built:.0f} s; session: imports + app + 2 strokes {r['setup']:.1f} s, "
                    f"first Live Update {r['first']:.1f} s, next stroke {r['next']:.2f} s")
            if build and "warm_up" in build:
                again = json.loads(run(SESSION, cache)[1])
                line += f" (the same session again, all loaded from disk: first Live Update {again['first']:.1f} s)"
            print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
