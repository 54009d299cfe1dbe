"""ilastik's feature selection grid: filter families by scales (σ)."""
from __future__ import annotations

import ipywidgets as W

from ..features.kernels import kernel_radius
from ..features.spec import DEFAULT_SIGMAS, FAMILIES, FAMILY_TITLES, FeatureSet

SHORT_TITLES = {  # the full titles are the tooltips
    "gaussian": "Gaussian", "log": "Laplacian (LoG)", "gradient_magnitude": "Gradient magn.",
    "dog": "Diff. of Gauss.", "structure_tensor_eigenvalues": "Struct. tensor EV",
    "hessian_eigenvalues": "Hessian EV",
}


class FeatureGrid(W.VBox):
    """Check boxes per (family, σ); "Apply features" sets the project's FeatureSet and retrains."""

    def __init__(self, app):
        self.app = app
        fs = app.project.features
        sigmas = sorted(set(DEFAULT_SIGMAS) | set(fs.sigmas))
        self.checks = {}
        cells = [W.Label("")] + [W.Label(f"σ{s:g}", tooltip=f"scale σ = {s:g} pixels") for s in sigmas]
        for f in FAMILIES:
            name = W.Label(SHORT_TITLES.get(f, f), tooltip=FAMILY_TITLES[f], layout=W.Layout(width="112px"))
            name.add_class("pixclass-sticky")  # stays in view while many σ columns scroll
            cells.append(name)
            for s in sigmas:
                cb = W.Checkbox(value=(f, round(s, 6)) in fs.pairs, indent=False, layout=W.Layout(width="28px"),
                                tooltip=f"{FAMILY_TITLES[f]}, σ = {s:g}")
                self.checks[(f, s)] = cb
                cells.append(cb)
        # a volume filtered in 3D: ilastik's "in 2D" row, a scale filtered plane by plane (thin stacks)
        imgs = app.project.images
        self.in_2d = {}
        if imgs and imgs[0].ndim_spatial == 3 and fs.mode != "2d":
            cells.append(W.Label("in 2D", tooltip="filter this scale plane by plane, the others in 3D",
                                 layout=W.Layout(width="112px")))
            for s in sigmas:
                self.in_2d[s] = W.Checkbox(value=round(s, 6) in fs.in_2d, indent=False, layout=W.Layout(width="28px"),
                                           tooltip=f"σ = {s:g} plane by plane (in 2D)")
                cells.append(self.in_2d[s])
        grid = W.GridBox(cells, layout=W.Layout(grid_template_columns=f"112px repeat({len(sigmas)}, 32px)"))
        self.normalize = W.Checkbox(value=fs.normalize == "percentile", indent=False,
                                    description="normalize each image (1–99.8 %)",
                                    tooltip="scale each image by its 1st and 99.8th percentiles before filtering")
        self.apply = W.Button(description="Apply features", icon="check", layout=W.Layout(width="150px"),
                               tooltip="use the checked features and retrain")
        self.info = W.Label(layout=W.Layout(width="auto"))
        self.apply.on_click(lambda _: app.apply_feature_grid())
        # more scales than the side panel's width scroll sideways: beyond eight σ the last columns were cut off
        grid_box = W.Box([grid], layout=W.Layout(overflow_x="auto", width="100%", flex="0 0 auto"))
        grid_box.add_class("pixclass-feature-grid")
        more = [W.Label(f"scroll the grid sideways for σ up to {max(sigmas):g} →")] if len(sigmas) > 8 else []
        super().__init__([grid_box] + more + [self.normalize, W.HBox([self.apply]), self.info])
        self.update_info()

    def selected(self):
        """The FeatureSet the ticked boxes make."""
        return [k for k, cb in self.checks.items() if cb.value]

    def feature_set(self):
        """The FeatureSet the boxes describe (None when nothing is checked)."""
        pairs = self.selected()
        if not pairs:
            return None
        fs = self.app.project.features
        flat = [s for s, cb in self.in_2d.items() if cb.value] if self.in_2d else fs.in_2d
        return FeatureSet(pairs=pairs, mode=fs.mode, normalize="percentile" if self.normalize.value else None,
                          in_2d=flat)

    def update_info(self):
        """Say how many features the ticked boxes give, and which scales in 3D outreach a thin volume."""
        img = self.app.project.images[0]
        fs = self.app.project.features
        n = fs.n_features_for(img.n_channels, img.ndim_spatial)
        note = ""
        if img.ndim_spatial == 3 and fs.spatial_ndim(3) == 3:
            nz, across = img.shape_spatial[0], min(img.spacing) / img.spacing[0]  # sigma in planes per pixel
            wide = [s for s in fs.sigmas if s not in fs.in_2d and kernel_radius(s * across) >= nz]
            if wide:  # what ilastik ticks "in 2D" for: the kernel reaches past every plane of the stack
                note = (f" · σ {', '.join(f'{s:g}' for s in wide)} in 3D reach{'es' if len(wide) == 1 else ''} "
                        f"beyond all {nz} planes: its \"in 2D\" box filters it plane by plane")
        self.info.value = f"{n} features ({len(fs.pairs)} filters x {img.n_channels} channels){note}"
