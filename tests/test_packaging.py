"""Binder's requirements, conda's environment.yml and pyproject.toml list the same dependencies."""
import os
import re
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _name(req):
    return re.split(r"[<>=!\[ ;]", req.strip(), maxsplit=1)[0].lower()


def _spec(req):
    return re.sub(r"\[.*?\]", "", req.replace(" ", "")).lower()


def pyproject_deps():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        proj = tomllib.load(f)["project"]
    return proj["dependencies"] + proj["optional-dependencies"]["dask"]


def test_binder_requirements_match_pyproject():
    lines = [l.strip() for l in open(os.path.join(ROOT, "binder", "requirements.txt")) if l.strip() and not l.startswith("#")]
    assert sorted(map(_spec, lines)) == sorted(map(_spec, pyproject_deps()))
    assert "pip install --no-deps -e ." in open(os.path.join(ROOT, "binder", "postBuild")).read()


def test_environment_yml_matches_pyproject():
    deps = []
    for line in open(os.path.join(ROOT, "environment.yml")):
        m = re.match(r"\s+- ([A-Za-z][\w\-\[\]]*[<>=].*)$", line)
        if m and not m.group(1).startswith("python"):
            deps.append(m.group(1))
    want = {_name(d): _spec(d).replace(_name(d), "", 1) for d in pyproject_deps()}
    got = {_name(d): _spec(d).replace(_name(d), "", 1) for d in deps}
    assert got == want


def test_readme_test_command_is_what_ci_runs():
    readme = open(os.path.join(ROOT, "README.md")).read()
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    cmd = 'pip install -r binder/requirements.txt -e ".[test]" && bash .ci/install-browser && python -m pytest'
    assert cmd in readme and cmd in ci
