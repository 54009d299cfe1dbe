"""Export a result of the shown image, and save the project, from the panel."""
from __future__ import annotations

import os

import ipywidgets as W

SOURCES = ["probabilities", "simple_segmentation", "uncertainty", "mask", "features"]


class ExportPanel(W.VBox):
    """Source, dtype, renormalize and a path; the outcome goes to the status line and progress bar."""

    def __init__(self, app):
        self.app = app
        narrow = {"description_width": "60px"}
        wide = W.Layout(width="330px")
        self.source = W.Dropdown(options=SOURCES, description="Source", style=narrow, layout=wide)
        self.dtype = W.Dropdown(options=["float32", "uint16", "uint8"], description="dtype", style=narrow, layout=wide)
        self.renormalize = W.Checkbox(description="renormalize to the dtype's range", indent=False)
        self.path = W.Text(description="Path", placeholder="out/probabilities.tif", style=narrow, layout=wide,
                           tooltip="where to write: .tif, .h5 or .npy")
        self.export = W.Button(description="Export", icon="download", tooltip="export the shown image's result")
        # a loaded project is saved back to its own file unless told otherwise (ilastik's Save)
        self.project_path = W.Text(value=app.project.path or "", description="Project", placeholder="project.h5",
                                   style=narrow, layout=wide)
        self.save = W.Button(description="Save project", icon="save", tooltip="save images, labels, classifier")
        # probabilities as integers round to 0 and 1 unless renormalized: ticked when an integer dtype is chosen
        self.dtype.observe(lambda _: self._follow_dtype(), "value")
        self.source.observe(lambda _: self._follow_dtype(), "value")
        self.export.on_click(lambda _: self.export_clicked())
        self.save.on_click(lambda _: self.save_clicked())
        super().__init__([self.source, self.dtype, self.renormalize, self.path, self.export,
                          self.project_path, self.save])

    def _follow_dtype(self):
        """Renormalize probabilities and uncertainty written as integers (as ilastik's export offers)."""
        self.renormalize.value = self.dtype.value != "float32" and self.source.value in ("probabilities",
                                                                                         "uncertainty")

    def _run(self, text, hint, verb, action):
        """Run ``action(path)`` for the path typed in ``text``; report the outcome in the status line."""
        a = self.app
        path = os.path.expanduser(text.value.strip())  # "~/results/p.tif", as a shell and napari take it
        if not path:
            a.status = hint
            return
        try:
            a.status = action(path)
            a.progress_panel.show("done", 1.0)
        except Exception as e:  # shown to the user; nothing is written on failure (atomic writes)
            a.status = f"{verb} failed: {e}"
            a.progress_panel.show(f"{verb} failed", 0.0)

    def export_clicked(self):
        """Export what the panel says, on the worker thread."""
        a = self.app
        source = self.source.value

        def export(path):
            if a.project.forest is None and source != "features":
                a.progress_panel.show("export: training…", 0.05)
                a.project.train()
            a.progress_panel.show(f"export: computing {source}…", 0.2)
            out = a.project.export(a.image_index, path, source=source, dtype=self.dtype.value,
                                   renormalize=self.renormalize.value)
            return f"exported {source} to {os.path.abspath(out)}"

        self._run(self.path, "export: type a path ending in .tif, .h5 or .npy", "export", export)

    def save_clicked(self):
        """Save the project to the path in the panel, on the worker thread."""
        def save(path):
            self.app.progress_panel.show("saving the project…", 0.3)
            return f"saved project to {os.path.abspath(self.app.project.save(path))}"

        self._run(self.project_path, "save: type a project path ending in .h5", "save", save)
