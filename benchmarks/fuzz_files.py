"""Damaged files, one damage at a time: does every one get a clear error naming the file, or load and work?

``python benchmarks/fuzz_files.py`` saves a small trained project (``pc.datasets.nuclei``), then copies
it once per damage: each dataset removed, retyped (floats, negatives, NaN, text, object strings),
emptied, declared huge without data, truncated, transposed, shuffled or shifted, or replaced by a
group; each attribute set to junk, to JSON nested 5 000 deep, or (for JSON attributes) with each
entry set to null, -1, 1e30, text, a list, an object, HTML or NaN, or removed. ``--ilp FILE.ilp``
damages an ilastik project's datasets and attributes the same way (its trees are skipped: they are
never read); ``--project FILE.h5`` one of ours (its images' files are found at their absolute paths). Each copy is loaded (and, if it holds a forest, predicted; an ``.ilp`` is trained) in
its own process under a 6 GiB address-space limit, so a crash or an allocation of what the file
merely declares shows up as such. Prints one line per outcome kind and every damage that was not
clean: an exception other than ValueError / OSError / KeyError, an error not naming the file, a
crash, or probabilities that are not distributions.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

import h5py
import numpy as np

CHILD = r'''
import resource, sys, warnings
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
warnings.simplefilter("ignore")
import numpy as np
import jupyter_pixclass as pc
path = sys.argv[1]
try:
    if path.endswith(".ilp"):
        p = pc.Project.from_ilastik(path)
        from jupyter_pixclass.engine.chunked_labels import painted_regions  # a lane left in its file: chunks

        n = sum(int(np.count_nonzero(lab[r])) for lab in map(p.labels, range(len(p.images)))
                for r in painted_regions(lab))
        if n and len(p.images) and len(p.classes) > 1:
            try:
                p.train()
            except ValueError as e:  # e.g. one class labeled: a refusal, not a fault
                print("OK refused to train:", str(e)[:80]); sys.exit(0)
    else:
        p = pc.Project.load(path)
    if p.forest is not None and p.images:
        pr = p.predict(0)
        ok = np.isfinite(pr).all() and np.allclose(pr.sum(-1), 1, atol=1e-4)
        print("OK predicts" if ok else "BAD probabilities"); sys.exit(0 if ok else 6)
    print("OK loads")
except (ValueError, OSError, KeyError) as e:
    print(("CLEAN " if path in str(e) else "NO-FILE-NAME ") + type(e).__name__, str(e)[:200].replace("\n", " "))
except Exception as e:
    print("UNCLEAN " + type(e).__name__, str(e)[:200].replace("\n", " ")); sys.exit(5)
'''


def small_project(path):
    import jupyter_pixclass as pc

    img, truth = pc.datasets.nuclei((128, 128), seed=3)
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=8)
    p.add_image(img)
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], n_strokes=6, mapping={1: 1, 2: 2, 3: 2}))
    p.train().save(path)


def dataset_damages(f, name):
    d = f[name]

    def replace(new=None, **kw):
        del f[name]
        f.create_dataset(name, data=new, **kw)

    yield "removed", lambda: f.__delitem__(name)
    yield "floats 1e30", lambda: replace(np.full(d.shape, 1.5e30))
    yield "-7", lambda: replace(np.full(d.shape, -7, np.int64))
    yield "NaN", lambda: replace(np.full(d.shape, np.nan))
    yield "text", lambda: replace(b"<img src=x onerror=alert(1)>")
    yield "object strings", lambda: replace(np.array(["a", "<b>x</b>"], dtype=h5py.string_dtype()))
    yield "empty", lambda: replace(np.zeros((0,) * max(d.ndim, 1), d.dtype if d.dtype.kind not in "OV" else np.uint8))
    yield "declared huge", lambda: replace(shape=(4_000_000, 4_000_000) + d.shape[2:] if d.ndim >= 2 else (10**12,),
                                           dtype=d.dtype if d.dtype.kind in "biuf" else np.uint8, chunks=True)
    yield "a group", lambda: (f.__delitem__(name), f.create_group(name))
    if d.ndim:
        yield "truncated", lambda: replace(d[()][: max(d.shape[0] // 2, 1)])
        yield "transposed", lambda: replace(np.ascontiguousarray(d[()].T) if d.ndim >= 2 else d[()][::-1])
    if d.dtype.kind in "iu" and d.size:
        yield "largest integer", lambda: replace(np.full(d.shape, np.iinfo(d.dtype).max, d.dtype))
        yield "shuffled", lambda: replace(np.random.default_rng(0).permutation(d[()].ravel()).reshape(d.shape))
        yield "+1", lambda: replace((d[()].astype(np.int64) + 1).astype(d.dtype))
        yield "-2", lambda: replace(d[()].astype(np.int64) - 2)


def attribute_damages(o):
    for k, v in list(o.attrs.items()):
        values = ["garbage", "{}", "[]", '{"a": ' * 5000 + "1" + "}" * 5000, b"\xff\xfe", 123, np.arange(3)]
        if isinstance(v, str) and v.startswith("{"):
            try:
                entries = json.loads(v)
            except ValueError:
                entries = {}
            for key in entries:
                for bad in (None, -1, 10**30, "x", [], {"nested": 1}, "<script>alert(1)</script>", float("nan")):
                    values.append(json.dumps(dict(entries, **{key: bad})))
                values.append(json.dumps({x: y for x, y in entries.items() if x != key}))
        for bad in values:
            def put(k=k, bad=bad):
                o.attrs[k] = bad
            yield f"attribute {k} = {str(bad)[:50]}", put
        yield f"attribute {k} removed", lambda k=k: o.attrs.__delitem__(k)


def damages(src):
    """(object name, what, index) of every damage ``src`` can take, the object's own damages in order."""
    names = ["/"]
    with h5py.File(src) as f:
        f.visititems(lambda n, o: None if "ClassifierForests/Forest" in n else names.append(n))
        for name in names:
            for i, (what, _) in enumerate(damages_of(f, name)):
                yield name, what, i


def damages_of(f, name):
    """``[(what, damage())]`` of the object ``name`` of the open file ``f``: its dataset's, then its attributes'."""
    o = f[name]
    kinds = list(dataset_damages(f, name)) if isinstance(o, h5py.Dataset) else []
    return kinds + list(attribute_damages(o))


def apply(path, name, i):
    with h5py.File(path, "r+") as f:
        damages_of(f, name)[i][1]()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ilp", help="an ilastik project to damage (default: a small project of ours)")
    ap.add_argument("--project", help="a project of ours to damage (its images' files stay where they are)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="fuzz-files-")
    child = os.path.join(work, "child.py")
    with open(child, "w") as fh:
        fh.write(CHILD)
    src = os.path.join(work, "source" + (".ilp" if args.ilp else ".h5"))
    if args.ilp or args.project:
        shutil.copy(args.ilp or args.project, src)
    else:
        small_project(src)
    counts, faults = Counter(), []
    for n, (name, what, i) in enumerate(damages(src)):
        dst = os.path.join(work, f"d{n}" + os.path.splitext(src)[1])
        shutil.copy(src, dst)
        try:
            apply(dst, name, i)
        except (ValueError, TypeError, OSError):  # h5py could not write this damage: nothing to try
            counts["not applicable"] += 1
            os.remove(dst)
            continue
        try:
            r = subprocess.run([sys.executable, child, dst], capture_output=True, text=True, timeout=300)
            out = (r.stdout.strip().splitlines() or [f"no output, exit {r.returncode}"])[-1]
        except subprocess.TimeoutExpired:
            out = "TIMEOUT after 300 s"
        kind = out.split(" ")[0]
        counts[kind] += 1
        if kind not in ("OK", "CLEAN"):
            faults.append(f"  {name} | {what} | {out[:200]}")
        os.remove(dst)
    print(f"{sum(counts.values())} damages of {args.ilp or args.project or 'a small trained project'}:")
    for k, v in counts.most_common():
        print(f"  {k}: {v}")
    print("not clean:" if faults else "not clean: none")
    print("\n".join(faults))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
