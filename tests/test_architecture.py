"""The package keeps its layers: imports go down, never in a circle, private names stay home, modules stay small.

Layers, bottom to top (docs/architecture.md): runtime, images, features, forest, engine, outputs,
project, the top-level modules (cli, datasets, simulate, suggest, preprocess, postprocess, io), app.
Imports inside functions count as much as those at the top.
"""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jupyter_pixclass")
LAYERS = ["runtime", "images", "features", "forest", "engine", "outputs", "project", "", "app"]
MAX_LINES = 400
# a private name of another package used on purpose: ipycanvas has no public way to send bytes we encoded
FOREIGN_PRIVATE = {("app.canvas_view", "_canvas_manager")}


def _modules():
    out = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                name = rel[: -len(".__init__")] if rel.endswith("__init__") else rel
                out[name] = (path, ast.parse(open(path, encoding="utf-8").read()), rel.endswith("__init__"))
    return out


MODULES = _modules()


def _layer(name):
    top = name.split(".")[0]
    return LAYERS.index(top if top in LAYERS else "")


def _resolve(module, is_package, node):
    """The package-relative names an ImportFrom brings in (modules, or the module holding the names)."""
    if node.level == 0:
        if not (node.module or "").startswith("jupyter_pixclass"):
            return []
        base = node.module[len("jupyter_pixclass"):].lstrip(".")
    else:
        parts = module.split(".") if module else []
        if not is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
        base = ".".join(parts + ([node.module] if node.module else []))
    targets = []
    for alias in node.names:
        sub = f"{base}.{alias.name}" if base else alias.name
        targets.append(sub if sub in MODULES else base)
    return [t for t in targets if t in MODULES]


def _imports(name):
    path, tree, is_pkg = MODULES[name]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out += [(t, node) for t in _resolve(name, is_pkg, node)]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("jupyter_pixclass."):
                    t = alias.name[len("jupyter_pixclass."):]
                    if t in MODULES:
                        out.append((t, node))
    return out


def test_imports_go_down_the_layers():
    """A module imports from its own layer and those below; the package root is exempt."""
    bad = []
    for name in MODULES:
        if name == "":
            continue
        for target, node in _imports(name):
            if target != name and _layer(target) > _layer(name):
                bad.append(f"{name} (line {node.lineno}) imports {target}")
    assert not bad, "imports that run back up:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {n: {t for t, _ in _imports(n) if t != n and t != ""} for n in MODULES if n != ""}
    # a package's __init__ re-exports its modules: an import of the package is one of those
    seen, stack, cycles = set(), [], []

    def visit(n):
        if n in stack:
            cycles.append(stack[stack.index(n):] + [n])
            return
        if n in seen:
            return
        seen.add(n)
        stack.append(n)
        for t in sorted(graph.get(n, ())):
            if not (MODULES[t][2] and n.startswith(t + ".")):  # a module importing its own package's siblings
                visit(t)
        stack.pop()

    for n in sorted(graph):
        visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _defined_private(tree):
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store):
            names.add(n.attr)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
    return {x for x in names if x.startswith("_")}


def test_no_private_name_taken_across_modules():
    """``from x import _y``, and ``obj._y`` on anything but self/cls when this module does not define ``_y``."""
    bad = []
    for name, (path, tree, _) in MODULES.items():
        own = _defined_private(tree)
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom):
                bad += [f"{name} (line {n.lineno}) imports {a.name}" for a in n.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
            elif isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__"):
                if isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"):
                    continue
                if n.attr not in own and (name, n.attr) not in FOREIGN_PRIVATE:
                    bad.append(f"{name} (line {n.lineno}) uses {ast.unparse(n)}")
    assert not bad, "private names taken across modules:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    path = MODULES[name][0]
    n = sum(1 for _ in open(path, encoding="utf-8"))
    assert n <= MAX_LINES, f"{path} has {n} lines (at most {MAX_LINES})"


def test_engine_layers_never_import_the_app():
    bad = [f"{n} imports {t}" for n in MODULES if n and _layer(n) < LAYERS.index("app")
           for t, _ in _imports(n) if t.split(".")[0] == "app"]
    assert not bad


def test_public_names_have_docstrings():
    missing = []
    for name, (path, tree, _) in MODULES.items():
        def visit(body, prefix):
            for n in body:
                if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or n.name.startswith("_"):
                    continue
                if any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in getattr(n, "decorator_list", [])):
                    continue
                if ast.get_docstring(n) is None:
                    missing.append(f"{name}: {prefix}{n.name}")
                if isinstance(n, ast.ClassDef):
                    visit(n.body, prefix + n.name + ".")
        visit(tree.body, "")
    assert not missing, "public names without a docstring:\n" + "\n".join(missing)


def test_the_architecture_page_names_every_module():
    page = open(os.path.join(os.path.dirname(ROOT), "docs", "architecture.md"), encoding="utf-8").read()
    absent = [n for n, (_, _, pkg) in MODULES.items() if n and not pkg and f"`{n.split('.')[-1]}`" not in page]
    assert not absent, f"docs/architecture.md does not mention {absent}"
