"""Saving and loading projects as one HDF5 file of plain arrays and JSON (never pickle)."""
from __future__ import annotations

import json
import os


from .features import FeatureSet
from .forest import Forest
from .image import Image
from .io import atomic_write

__all__ = ["save_project", "load_project"]


def save_project(project, path, images="inline"):
    import h5py

    if images not in ("inline", "paths"):
        raise ValueError(f"images must be 'inline' or 'paths'; got {images!r}")
    from .project import FORMAT, FORMAT_VERSION

    path = os.fspath(path)
    with atomic_write(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            meta = {
                "classes": project.classes, "colors": project.colors,
                "features": project.features.to_dict(), "random_state": project.random_state,
                "n_estimators": project.n_estimators,
            }
            f.attrs["meta"] = json.dumps(meta)
            g = f.create_group("images")
            for i, (img, lab) in enumerate(zip(project.images, project._labels)):
                gi = g.create_group(str(i))
                gi.attrs["meta"] = json.dumps({
                    "name": img.name, "axes": img.axes, "spacing": list(img.spacing), "path": img.path,
                    "channel_names": img.channel_names,
                })
                if images == "inline" or img.path is None:
                    gi.create_dataset("data", data=img.data, compression="gzip", compression_opts=1)
                gi.create_dataset("labels", data=lab, compression="gzip", compression_opts=1)
            if project.forest is not None:
                fg = f.create_group("forest")
                for k, v in project.forest.to_arrays().items():
                    fg.create_dataset(k, data=v)
                key, n_ch, n_cls, fnd = project._trained
                fg.attrs["n_features"] = project.forest.n_features
                fg.attrs["trained"] = json.dumps({"n_channels": n_ch, "n_classes": n_cls, "ndim": fnd})
    return path


def load_project(path):
    from .io import load_image, open_hdf5_file
    from .project import FORMAT, FORMAT_VERSION, Project

    path = os.fspath(path)
    with open_hdf5_file(path, "project file") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path!r} is an HDF5 file but not a jupyter-pixclass project")
        ver = int(f.attrs.get("format_version", -1))
        if ver > FORMAT_VERSION:
            raise ValueError(
                f"{path!r} was saved in project format {ver}, newer than this version reads "
                f"({FORMAT_VERSION}): upgrade jupyter-pixclass"
            )
        try:
            meta = json.loads(f.attrs["meta"])
            p = Project(meta["classes"], features=FeatureSet.from_dict(meta["features"]), colors=meta["colors"],
                        random_state=meta["random_state"], n_estimators=meta.get("n_estimators", 100))
            for i in sorted(f["images"], key=int):
                gi = f["images"][i]
                im = json.loads(gi.attrs["meta"])
                if "data" in gi:
                    img = Image(gi["data"][...], axes=im["axes"], name=im["name"], spacing=im["spacing"],
                                path=im["path"], channel_names=im["channel_names"])
                else:
                    img = load_image(im["path"], axes=None)
                    img.name = im["name"]
                p.add_image(img)
                p.set_labels(p.images.index(img), gi["labels"][...])
            if "forest" in f:
                fg = f["forest"]
                arrays = {k: fg[k][...] for k in Forest.ARRAYS}
                try:
                    p.forest = Forest.from_arrays(arrays, int(fg.attrs["n_features"]))
                except ValueError as e:
                    raise ValueError(f"{path!r}: {e}") from e
                tr = json.loads(fg.attrs["trained"])
                p._trained = (p.features.key(), tr["n_channels"], tr["n_classes"], tr.get("ndim"))
        except (KeyError, OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path!r} is damaged or incomplete: {e}") from e
    return p
