"""Command line: ``pixclass batch PROJECT INPUT... -o OUT_DIR`` and ``pixclass demo``."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings

from .outputs.results import DTYPES, SOURCES


def _parser():
    p = argparse.ArgumentParser(prog="pixclass", description="ilastik-style pixel classification from the shell.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser(
        "batch", help="apply a trained project to many images",
        description="Apply a trained project (.h5 saved by Project.save, or an ilastik .ilp, trained here on its "
                    "labels) to image files; one output per input.",
    )
    b.add_argument("project", help="project file saved with Project.save(...), or an ilastik .ilp")
    b.add_argument("inputs", nargs="+",
                   help="image files, folders of them, or glob patterns (quote them: 'data/*_s2.h5')")
    b.add_argument("-o", "--out", required=True, help="output folder (created if missing)")
    b.add_argument("--source", default="probabilities", choices=SOURCES[:4] + ("features",),
                   help="what to export: class probabilities (default), simple_segmentation (argmax, 1-based), "
                        "uncertainty, mask (0/255 of --class-name) or features")
    b.add_argument("--dtype", default="float32", choices=DTYPES, help="output pixel type (default float32)")
    b.add_argument("--renormalize", action="store_true",
                   help="map probabilities [0, 1] onto the full integer range (e.g. 0..65535 for uint16)")
    b.add_argument("--format", default="tiff", choices=["tiff", "hdf5", "npy", "zarr", "ome-zarr"],
                   help="output format (default tiff; ome-zarr: a multiscale OME-NGFF pyramid)")
    b.add_argument("--class-name", default=None, help="class for --source mask (default the first class)")
    b.add_argument("--axes", default=None, help="axes of the inputs if their files do not say, e.g. CYX or ZCYX")
    b.add_argument("--output-axes", default=None,
                   help="axis order of the outputs, e.g. YXC as ilastik writes for steinbock (default CYX for TIFF)")
    b.add_argument("--name-template", default="{stem}_{source}.{ext}", help="output name from {stem}, {source}, {ext}")
    b.add_argument("--overwrite", action="store_true", help="recompute outputs that already exist")
    b.add_argument("--scheduler", default=None, help="dask.distributed scheduler address (e.g. tcp://10.0.0.5:8786)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("--image-root", default=None, help="folder holding the project's own image files now, "
                   "if they moved and were saved as paths")
    i = sub.add_parser(
        "import-ilastik", help="turn an ilastik Pixel Classification project (.ilp) into a project file",
        description="Read classes, colours, images, labels and the feature selection of an ilastik .ilp, "
                    "retrain the forest on the imported labels (--no-train: skip) and save a project .h5.",
    )
    i.add_argument("ilp", help="the ilastik project (.ilp)")
    i.add_argument("-o", "--out", required=True, help="project file to write (.h5)")
    i.add_argument("--image-root", default=None, help="folder holding the project's external image files now")
    i.add_argument("--no-train", action="store_true", help="save without training")
    d = sub.add_parser("demo", help="open the nuclei quickstart notebook in JupyterLab",
                       description="Start JupyterLab on notebooks/01_nuclei_quickstart.ipynb (the first tutorial).")
    d.add_argument("--notebook", default="01_nuclei_quickstart.ipynb", help="which tutorial to open")
    d.add_argument("--port", type=int, default=None, help="port for JupyterLab")
    d.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    return p


def _find_notebooks():
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(os.getcwd(), "notebooks"), os.path.join(os.path.dirname(here), "notebooks")):
        if os.path.isdir(cand):
            return cand
    return None


def demo(args):
    """Open the first tutorial in JupyterLab (``pixclass demo``)."""
    folder = _find_notebooks()
    if folder is None:
        print("pixclass: error: no notebooks/ folder found here or beside the package (run from the repository)",
              file=sys.stderr)
        return 2
    nb = os.path.join(folder, args.notebook)
    if not os.path.exists(nb):
        print(f"pixclass: error: no notebook {nb!r}; tutorials: {sorted(os.listdir(folder))}", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "jupyter", "lab", nb]
    if args.port:
        cmd.append(f"--port={args.port}")
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # JupyterLab refuses root otherwise (containers, Binder-like VMs)
    # the kernels compile while JupyterLab starts and the first cells run, at a lower priority:
    # in a fresh environment the first Live Update waited 21 s, 1.8 s once compiled (bench_first_session.py)
    warm = subprocess.Popen([sys.executable, "-m", "jupyter_pixclass.app.warmup"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_lower_priority if hasattr(os, "nice") else None)
    try:
        return subprocess.call(cmd)
    finally:
        if warm.poll() is None:
            warm.terminate()


def _lower_priority():
    os.nice(10)


def _labeled_pixels(project):
    """Labeled pixels of every image; chunked labels of a lane left in its file counted in the painted chunks."""
    import numpy as np

    from .engine.chunked_labels import painted_regions

    return sum(int(np.count_nonzero(lab[r])) for lab in map(project.labels, range(len(project.images)))
               for r in painted_regions(lab))


def _from_ilp(path, image_root):
    """A project to batch-apply from an ilastik ``.ilp``: trained here on its labels, as import-ilastik does."""
    from .project import Project

    project = Project.from_ilastik(path, image_root=image_root)
    n_lab = _labeled_pixels(project)
    if not n_lab:  # steinbock's template, or a project not labeled yet
        raise ValueError(f"{path!r} has no labels: an ilastik project is applied by training on its labels; "
                         f"label it in ilastik or in the app first")
    try:
        project.train()
    except ValueError as e:  # one class labeled
        raise ValueError(f"{path!r} cannot be trained on: {e}") from e
    print(f"pixclass: note: {path} is an ilastik project; trained on its {n_lab} labeled pixels "
          f"(ilastik's own classifier is not read). `pixclass import-ilastik` saves it once to reuse",
          file=sys.stderr)
    return project


def import_ilastik(args):
    """``pixclass import-ilastik``: an ilastik project saved as ours, retrained on its labels."""
    from .project import Project

    try:
        from .images.atomic import check_not_input

        check_not_input(args.out, [args.ilp], "output")
        project = Project.from_ilastik(args.ilp, image_root=args.image_root)
        check_not_input(args.out, project.input_files(), "output")
        n_lab = _labeled_pixels(project)
        trained = False
        if not args.no_train:
            try:
                project.train()
                trained = True
            except ValueError as e:  # e.g. only one class labeled: save what there is
                print(f"pixclass: not trained: {e}", file=sys.stderr)
        project.save(args.out)
    except KeyboardInterrupt:
        print(f"pixclass: interrupted; {args.out!r} was not written (run the command again)", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"pixclass: error: not enough memory to import {args.ilp!r}", file=sys.stderr)
        return 2
    except Exception as e:  # one line for every bad input, never a traceback
        print(f"pixclass: error: {_one_line(e)}", file=sys.stderr)
        return 2
    fs = project.features
    if project.images:  # what the forest sees: every channel's filters, in the images' dimensions
        im = project.images[0]
        n_feat = fs.n_features_for(im.n_channels, im.ndim_spatial)
        feats = f"{n_feat} features ({len(fs.pairs)} filter and scale choices)"
    else:
        feats = f"{len(fs.pairs)} filter and scale choices"
    print(f"imported {args.ilp}: {len(project.classes)} classes {project.classes}, {len(project.images)} images, "
          f"{n_lab} labeled pixels, {feats}{', trained' if trained else ''} -> {args.out}")
    return 0


def _one_line(e):
    text = str(e) or type(e).__name__
    if not isinstance(e, (ValueError, FileNotFoundError, KeyError)):
        text = f"{type(e).__name__}: {text}"
    return text.strip().strip("'\"") if isinstance(e, KeyError) else text


def _note(message, category, filename, lineno, file=None, line=None):
    # a warning in the shell as one line of ours, not Python's "file:line: UserWarning" and our source line
    print(f"pixclass: note: {message}", file=sys.stderr)


def main(argv=None):
    """The ``pixclass`` command: ``demo``, ``batch``, ``import-ilastik``; returns the exit status."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _note
        return _run(args)


def _run(args):
    if args.cmd == "demo":
        return demo(args)
    if args.cmd == "import-ilastik":
        return import_ilastik(args)
    try:
        from .images.paths import suffix_of
        from .outputs.batch import batch_predict
        from .project import Project

        if suffix_of(args.project) == ".ilp":
            project = _from_ilp(args.project, args.image_root)
        else:
            project = Project.load(args.project, image_root=args.image_root)
        if project.forest is None:
            raise ValueError(f"project {args.project!r} has no trained classifier: train and save it first")
        from .outputs.batch import expand_inputs

        paths, empty = expand_inputs(args.inputs)
        if not paths:
            raise ValueError(f"no input files match {args.inputs}")
        written = batch_predict(
            project, args.inputs, args.out, source=args.source, dtype=args.dtype, renormalize=args.renormalize,
            format=args.format, name_template=args.name_template, progress=not args.no_progress,
            overwrite=args.overwrite, axes=args.axes, class_name=args.class_name, scheduler=args.scheduler,
            output_axes=args.output_axes,
        )
    except KeyboardInterrupt:
        return 130  # batch_predict said what was written and how to resume
    except MemoryError:
        print("pixclass: error: not enough memory (lower --block or the image size)", file=sys.stderr)
        return 2
    except Exception as e:  # one line for every bad input, never a traceback
        print(f"pixclass: error: {_one_line(e)}", file=sys.stderr)
        return 2
    n_fail = len(paths) + len(empty) - len(written)
    if n_fail:
        print(f"pixclass: error: {n_fail} input(s) failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
