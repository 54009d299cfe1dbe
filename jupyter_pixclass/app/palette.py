"""The class palette: click a row's name to paint that class; rename, recolour, delete, add."""
from __future__ import annotations

import ipywidgets as W
from ipyevents import Event


class ClassRow(W.HBox):
    """One class: its name (click selects, double-click or the pencil renames), colour, delete."""

    def __init__(self, palette, k, name, color):
        self.k = k
        self.name = W.Button(description=name, tooltip=f"paint {name} (key {k})" if k <= 9 else f"paint {name}",
                             layout=W.Layout(width="190px"))
        self.name.add_class("pixclass-class-name")
        self.edit = W.Text(value=name, continuous_update=False, layout=W.Layout(width="190px", display="none"))
        self.color = W.ColorPicker(value=color, concise=True, layout=W.Layout(width="36px"),
                                   tooltip=f"colour of {name}")
        self.pencil = W.Button(icon="pencil", tooltip=f"rename {name}", layout=W.Layout(width="36px"))
        self.trash = W.Button(icon="trash", tooltip=f"delete {name} and its labels", layout=W.Layout(width="36px"))
        super().__init__([self.name, self.edit, self.color, self.pencil, self.trash])
        self.add_class(f"pixclass-class-{k}")
        self.name.on_click(lambda _: setattr(palette.app, "current_class", k))
        self._dbl = Event(source=self.name, watched_events=["dblclick"])
        self._dbl.on_dom_event(lambda _: self.start_edit())
        self.pencil.on_click(lambda _: self.start_edit())
        self.edit.observe(lambda c: palette.rename(k, c["new"]), "value")
        self.color.observe(lambda c: palette.recolor(k, c["new"]), "value")
        self.trash.on_click(lambda _: palette.app.remove_class(k))

    def start_edit(self):
        """Show the name as an editable text box."""
        self.name.layout.display = "none"
        self.edit.layout.display = None

    def select(self, on):
        """Mark this row as the class being painted (``on``), or not."""
        self.name.icon = "paint-brush" if on else ""
        (self.add_class if on else self.remove_class)("pixclass-row-selected")


class ClassPalette(W.VBox):
    """The classes of ``app.project``, the selected one highlighted, and "Add class"."""

    def __init__(self, app):
        self.app = app
        self.rows = W.VBox()
        self.add = W.Button(description="Add class", icon="plus", tooltip="add a class and select it",
                            layout=W.Layout(width="120px"))
        self.add.on_click(lambda _: app.add_class())
        super().__init__([W.HTML("<b>Classes</b>"), self.rows, self.add])
        app.observe(lambda c: self.highlight(), "current_class")
        self.refresh()

    def refresh(self):
        """One row per class of the project."""
        p = self.app.project
        self.rows.children = [ClassRow(self, k, n, c) for k, (n, c) in enumerate(zip(p.classes, p.colors), start=1)]
        self.highlight()
        self.app.overlays.set_classes(p.classes)

    def highlight(self):
        """Mark the class being painted."""
        for row in self.rows.children:
            row.select(row.k == self.app.current_class)

    def rename(self, k, name):
        """Rename class ``k``; a refused name is said in the status line, as text."""
        try:
            self.app.project.rename_class(k, name)
        except ValueError as e:
            self.app.status = f"rename failed: {e}"
        self.refresh()

    def recolor(self, k, color):
        """Give class ``k`` a new colour."""
        self.app.project.set_color(k, color)
        self.app.canvas_view.draw_labels()
        self.app.canvas_view.draw()
