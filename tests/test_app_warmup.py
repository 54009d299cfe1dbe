"""The build-time warm-up compiles every kernel a Live Update session then calls."""
import json
import subprocess
import sys

SESSION = r"""
import json, sys
import numba.core.registry as reg
from jupyter_pixclass.app.warmup import warm_up

def compiled():
    out = set()
    for name, mod in list(sys.modules.items()):
        if name.startswith("jupyter_pixclass"):
            for attr, obj in vars(mod).items():
                if isinstance(obj, reg.CPUDispatcher):
                    out |= {f"{name}.{attr}{sig}" for sig in obj.signatures}
    return out

import jupyter_pixclass as pc
WARM
before = compiled()
# a person's session: a zoomed-out 2D view, then zoomed in; a volume with its panes
for shape, canvas in (((320, 320), (128, 128)), ((10, 56, 56), (40, 40))):
    img, truth = pc.datasets.nuclei(shape, seed=3)
    p = pc.Project(classes=["Nucleus", "Cytoplasm", "Background"])
    p.add_image(img)
    app = pc.PixelClassifierApp(p, canvas_size=canvas)
    z = {} if len(shape) == 2 else {"z": 4}
    app.stroke([(12, 12), (25, 20)], 1, radius=3, **z)
    app.stroke([(40, 35), (50, 40)], 3, radius=2, **z)
    app.live_update = True
    app.wait_idle(600)
    app.stroke([(30, 5), (45, 8)], 2, radius=2, **z)
    app.wait_idle(600)
    if len(shape) == 3:
        app.stroke([(20, 3), (30, 6)], 3, radius=1, plane="yz")
        app.wait_idle(600)
    app.zoom(3)
    app.stroke([(14, 14), (18, 18)], 1, radius=2, **z)
    app.wait_idle(600)
    app.close()
    p.export(pc.Image(img.data, axes=img.axes), sys.argv[1] + f"/p{len(shape)}.tif")
print(json.dumps(sorted(compiled() - before)))
"""


def _new_after(warm, tmp_path):
    code = SESSION.replace("WARM", warm)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_session_after_the_warm_up_compiles_nothing_new(tmp_path):
    assert _new_after("warm_up()", tmp_path) == []
    # what the build ran before (training and predicting a project): the app's paths were left out
    old = ("img, t = pc.datasets.nuclei((64, 64), seed=0); p = pc.Project(); i = p.add_image(img); "
           "p.set_labels(i, pc.datasets.scribbles(t['classes'], mapping={1: 1, 2: 2, 3: 2})); p.train().predict(i)")
    assert any("_predict_blocks" in k for k in _new_after(old, tmp_path))


def test_demo_compiles_beside_jupyterlab_and_stops_with_it(monkeypatch):
    from jupyter_pixclass import cli

    calls = []

    class Warm:
        def __init__(self, cmd, **kw):
            calls.append(("warm", cmd[1:]))

        def poll(self):
            return None  # still compiling when JupyterLab is closed

        def terminate(self):
            calls.append(("stopped",))

    monkeypatch.setattr(cli.subprocess, "Popen", Warm)
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd: calls.append(("lab", cmd[1:4])) or 0)
    assert cli.main(["demo", "--no-browser"]) == 0
    assert calls[0] == ("warm", ["-m", "jupyter_pixclass.app.warmup"])
    assert calls[1][0] == "lab" and calls[1][1][:2] == ["-m", "jupyter"] and calls[2] == ("stopped",)
