"""Keeps the notebook's own key shortcuts off the image while the app uses the keys.

JupyterLab listens for shortcuts while keydown bubbles, after ipyevents has stopped the event
on the canvas. Jupyter Notebook 7 listens while it is captured on the document, before any
widget, so its command mode also acted on them (B added a cell, O hid the output). Both skip
targets inside an element carrying ``data-lm-suppress-shortcuts`` (Lumino's documented opt-out),
and ipyevents focuses the canvas while the pointer is over it, so marking the canvas is enough.
Python widgets cannot set DOM attributes; this invisible anywidget does it from the browser.
"""
from __future__ import annotations

import anywidget
import ipywidgets as W
import traitlets as T

_ESM = """
const ATTR = "data-lm-suppress-shortcuts";
export default {
  render({ model, el }) {
    let observer = null, timer = null, tries = 0;
    const attach = () => {
      const root = el.closest(model.get("root"));
      if (!root) {  // not in the page yet: the output is attached after rendering
        if (tries++ < 400) timer = setTimeout(attach, 50);
        return;
      }
      const mark = () => root.querySelectorAll(model.get("selector")).forEach((n) => {
        if (!n.hasAttribute(ATTR)) n.setAttribute(ATTR, "true");
      });
      mark();
      el.dataset.guarding = "true";
      observer = new MutationObserver(mark);  // a canvas re-rendered later is marked too
      observer.observe(root, { childList: true, subtree: true });
    };
    attach();
    return () => { clearTimeout(timer); if (observer) observer.disconnect(); };
  },
};
"""


class KeyGuard(anywidget.AnyWidget):
    """Marks the elements matching ``selector`` inside the nearest ``root`` ancestor so that
    JupyterLab / Notebook 7 shortcuts ignore keys pressed there. Invisible."""

    _esm = _ESM
    selector = T.Unicode(".pixclass-canvas").tag(sync=True)
    root = T.Unicode(".pixclass-app").tag(sync=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("layout", W.Layout(display="none"))
        super().__init__(**kwargs)
