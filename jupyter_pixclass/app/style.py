"""The app's CSS: a highlighted class row, wrapping text, a layout that reflows when narrow."""
import ipywidgets as W

CSS = """
<style>
.pixclass-app .pixclass-row-selected { background: #dcecff; box-shadow: inset 4px 0 0 #1f6fd1; border-radius: 3px; }
.pixclass-app .pixclass-row-selected .pixclass-class-name button,
.pixclass-app .pixclass-row-selected button.pixclass-class-name { font-weight: bold; }
.pixclass-app .pixclass-class-name { text-align: left; justify-content: flex-start; }
.pixclass-app .pixclass-wrap { flex-wrap: wrap; }
.pixclass-app .widget-hbox > .widget-button, .pixclass-app .widget-hbox > .widget-colorpicker { flex-shrink: 0; }
.pixclass-app .pixclass-status code, .pixclass-app .pixclass-help { white-space: normal; word-break: break-word; }
.pixclass-app .pixclass-stale { color: #b45f00; font-weight: bold; }
.pixclass-app .pixclass-fresh { color: #2e7d32; }
.pixclass-app .pixclass-sticky { position: sticky; left: 0; z-index: 1; background: var(--jp-layout-color1, #fff); }
</style>
"""


def style_widget():
    """An HTML widget carrying the CSS (ipywidgets renders its ``<style>`` into the page)."""
    return W.HTML(CSS, layout=W.Layout(display="none"))
