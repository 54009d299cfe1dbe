"""Entries of an ilastik project read with care: strings bounded in length, label blocks placed and checked."""
from __future__ import annotations

import json
import re

import numpy as np

__all__ = ["MAX_TEXT", "text", "strings", "labels_of", "chunked_labels_of", "label_blocks", "labels_to_ours",
           "first_of"]

MAX_TEXT = 100_000  # characters of one string entry: more is damage, not a name or a path


def _decode(v, path, where):
    if isinstance(v, (bytes, np.bytes_)):
        try:
            return bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            try:
                return bytes(v).decode("latin-1")  # older ilastik wrote the platform's encoding
            except UnicodeDecodeError as e:  # pragma: no cover - latin-1 decodes every byte
                raise ValueError(f"{path!r}: {where} is not text ({e})") from None
    if isinstance(v, (str, np.str_)):
        return str(v)
    raise ValueError(f"{path!r}: {where} should be text but is {type(v).__name__} {v!r:.60}")


def text(x, path="the project", where="an entry", limit=MAX_TEXT):
    """One string from a scalar dataset or attribute value, at most ``limit`` characters long."""
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, (np.generic, np.ndarray)):  # a dataset
        if x.shape not in ((), (1,)):
            raise ValueError(f"{path!r}: {where} should be one string but has shape {x.shape}")
        if x.dtype.kind not in "OSU":
            raise ValueError(f"{path!r}: {where} should be text but has dtype {x.dtype}")
        x = x[()]
    if isinstance(x, np.ndarray):
        if x.size != 1:
            raise ValueError(f"{path!r}: {where} should be one string but has shape {x.shape}")
        x = x.ravel()[0]
    t = _decode(x, path, where)
    if len(t) > limit:
        raise ValueError(f"{path!r}: {where} is {len(t)} characters long (at most {limit})")
    return t


def strings(ds, path, where, limit=255):
    """A list of strings from a 1-D string dataset of at most ``limit`` entries."""
    if not hasattr(ds, "shape") or ds.dtype.kind not in "OSU" or ds.ndim > 1:
        raise ValueError(f"{path!r}: {where} should be a list of strings; got "
                         f"{getattr(ds, 'dtype', type(ds).__name__)} of shape {getattr(ds, 'shape', None)}")
    if ds.size > limit:
        raise ValueError(f"{path!r}: {where} holds {ds.size} entries (at most {limit})")
    return [text(v, path, f"{where}[{i}]") for i, v in enumerate(np.asarray(ds[()]).ravel())]


_SLICE_PART = re.compile(r"\s*(\d{1,15})\s*:\s*(\d{1,15})\s*")


def _parse_block_slice(spec, path, where, ndim):
    """``"[329:396,288:494,0:1]"`` -> slices; linear in the text, at most ``ndim`` parts."""
    t = spec.strip()
    bad = ValueError(f"{path!r}: blockSlice {t[:80]!r}{'...' if len(t) > 80 else ''} of {where} is not like "
                     f"'[0:10,5:20,0:1]' with {ndim} parts")
    if len(t) > 40 * ndim + 2 or not (t.startswith("[") and t.endswith("]")):
        raise bad
    parts = t[1:-1].split(",")
    if len(parts) != ndim:
        raise bad
    out = []
    for p in parts:
        m = _SLICE_PART.fullmatch(p)
        if m is None:
            raise bad
        a, b = int(m.group(1)), int(m.group(2))
        if b < a:
            raise bad
        out.append(slice(a, b))
    return tuple(out)


def labels_of(f, lane_no, shape, axes, path, n_classes):
    """Label array of a lane in its own axis order (channel axis of length 1).

    Every block's declared shape is checked against its blockSlice and the image before a
    pixel is read; values beyond ``n_classes`` (when the project names its classes) are refused.
    """
    lab = np.zeros(tuple(1 if a == "C" else n for a, n in zip(axes, shape)), np.uint8)
    for sl, data in label_blocks(f, lane_no, shape, axes, path, n_classes):
        lab[sl] = np.where(data > 0, data, lab[sl])  # 0 in a block is unlabeled, not an eraser
    return lab


def chunked_labels_of(f, lane_no, shape, axes, path, n_classes, keep="ZYX"):
    """Labels of a lane too large to hold whole: :class:`.ChunkedLabels` over the axes ``keep`` of the lane.

    ``keep`` are the spatial axes in our order (Z, Y, X, those the image has); every other axis of
    the lane must be a single plane (a channel axis, a time or z axis of length 1). Only the
    chunks the blocks paint are held.
    """
    from ..engine.chunked_labels import ChunkedLabels

    idx = [axes.index(a) for a in keep]
    if any(n != 1 for i, (a, n) in enumerate(zip(axes, shape)) if i not in idx and a != "C"):
        raise ValueError(f"{path!r}: lane {lane_no} of axes {axes!r} and shape {tuple(shape)} is not one image of "
                         f"axes {keep!r}")
    out = ChunkedLabels(tuple(shape[i] for i in idx))
    for sl, data in label_blocks(f, lane_no, shape, axes, path, n_classes):
        rest = [i for i in range(len(axes)) if i not in idx]
        data = np.transpose(data, idx + rest).reshape(tuple(data.shape[i] for i in idx))
        box = tuple(sl[i] for i in idx)
        out[box] = np.where(data > 0, data, out[box])
    return out


def label_blocks(f, lane_no, shape, axes, path, n_classes):
    """``(slices, uint8 block)`` of every label block of a lane, both in the lane's axis order, each checked."""
    key = f"PixelClassification/LabelSets/labels{lane_no:03d}"
    lab_shape = tuple(1 if a == "C" else n for a, n in zip(axes, shape))
    if key not in f:
        return
    group = f[key]
    if hasattr(group, "shape"):
        raise ValueError(f"{path!r}: {key} should be a group of label blocks but is a dataset")
    top = n_classes if n_classes else 255
    for bname in group:
        where = f"{key}/{bname}"
        block = group[bname]
        if not hasattr(block, "shape"):
            raise ValueError(f"{path!r}: {where} should be a label block (a dataset) but is a group")
        if block.dtype.kind not in "biu":
            raise ValueError(f"{path!r}: {where} has dtype {block.dtype}; label blocks hold integers")
        if "blockSlice" not in block.attrs:
            raise ValueError(f"{path!r}: {where} has no blockSlice attribute")
        spec = text(block.attrs["blockSlice"], path, f"the blockSlice of {where}")
        b_axes = _block_axes(block, spec, axes, path, where)
        sl = _parse_block_slice(spec, path, where, len(b_axes))
        want = tuple(s.stop - s.start for s in sl)
        if block.shape != want:
            raise ValueError(f"{path!r}: {where} of shape {block.shape} does not fit its blockSlice "
                             f"{spec} in an image of axes {axes!r} and shape {shape}")
        # the block's axes -> the lane's: an axis the lane lacks must be a single plane
        for a, s_ in zip(b_axes, sl):
            if a not in axes and not (s_.start == 0 and s_.stop == 1):
                raise ValueError(f"{path!r}: {where} spans {s_.start}:{s_.stop} along {a.lower()}, an axis the "
                                 f"image (axes {axes!r}) does not have")
        sl = tuple(sl[b_axes.index(a)] for a in axes)
        if any(s_.stop > n for s_, n in zip(sl, lab_shape)):
            raise ValueError(f"{path!r}: {where} at {spec} lies outside the image of shape {lab_shape} "
                             f"(axes {axes!r})")
        data = np.asarray(block[()])
        if data.size and (data.min() < 0 or data.max() > top):
            raise ValueError(f"{path!r}: {where} holds label values {int(data.min())}..{int(data.max())}, but "
                             + (f"the project has {n_classes} classes" if n_classes else "at most 255 exist"))
        data = data.astype(np.uint8)
        for a in [a for a in b_axes if a not in axes]:
            data = np.take(data, 0, axis=b_axes.index(a))
            b_axes = b_axes.replace(a, "")
        yield sl, np.transpose(data, [b_axes.index(a) for a in axes])


def _block_axes(block, spec, lane_axes, path, where):
    """The axis order of a label block: its own axistags, else the lane's, else ilastik 1.x's 'txyzc'."""
    if "axistags" in block.attrs:
        try:
            tags = json.loads(text(block.attrs["axistags"], path, f"the axistags of {where}"))
            b = "".join(a["key"] for a in tags["axes"]).upper()
        except (ValueError, KeyError, TypeError, RecursionError) as e:  # RecursionError: JSON nested too deep
            raise ValueError(f"{path!r}: the axistags of {where} are not ilastik's JSON ({e})") from None
    else:
        parts = spec.count(",") + 1
        b = lane_axes if parts == len(lane_axes) else "TXYZC" if parts == 5 else lane_axes
    if len(set(b)) != len(b) or not set(b) <= set("TZYXC") or not set(lane_axes) <= set(b):
        raise ValueError(f"{path!r}: {where} has axes {b!r}, which do not cover the image's {lane_axes!r}")
    return b


def first_of(a, axis):
    """``a``'s first entry along ``axis``: a view (``np.take`` copies)."""
    return a[(slice(None),) * axis + (0,)]


def labels_to_ours(lab, axes):
    """Labels in the lane's axis order -> ours: (T,) (Z,) Y, X without the channel axis."""
    axes = axes.upper()
    if "C" in axes:  # views, not np.take's copies: a lane's labels are as large as its image
        lab, axes = first_of(lab, axes.index("C")), axes.replace("C", "")
    if "T" in axes and lab.shape[axes.index("T")] == 1:
        lab, axes = first_of(lab, axes.index("T")), axes.replace("T", "")
    target = [a for a in "TZYX" if a in axes]
    return np.ascontiguousarray(np.transpose(lab, [axes.index(a) for a in target]))
