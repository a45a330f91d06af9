"""The environment files agree: pyproject ranges, constraints pins, environment.yml, Jupyter Book 1.x."""

import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _declared_requirements() -> list[Requirement]:
    project = _pyproject()
    strings = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        strings += extra
    return [Requirement(s) for s in strings]


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_environment_yml_mirrors_pyproject():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    listed = {canonicalize_name(Requirement(s).name): str(Requirement(s).specifier)
              for s in pip_section if not s.startswith("-")}
    declared = {canonicalize_name(r.name): str(r.specifier) for r in _declared_requirements()}
    assert listed == declared
    python = next(item for item in environment["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert Version(python.split("=")[-1]) in SpecifierSet(_pyproject()["requires-python"])
    assert any(s.startswith("-e .") for s in pip_section)


def test_constraints_pin_every_declared_dependency_within_its_range():
    pins = _pins()
    for requirement in _declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"constraints.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {requirement}"
    assert pins["torch"] == Version("2.13.0")


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pinned in _pins().items():
        if name == "torch":
            assert Version(version("torch")).base_version == "2.13.0"
        else:
            assert Version(version(name)) == pinned, name


def test_jupyter_book_is_1x_and_layout_is_1x():
    import jupyter_book

    assert jupyter_book.__version__.startswith("1.")
    assert not (ROOT / "myst.yml").exists()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    for pattern in ("_build", ".venv", "gtvlib", "tests", "runs"):
        assert pattern in config["exclude_patterns"]


def test_importing_gtvlib_does_not_import_torch_or_torchvision():
    import subprocess
    import sys

    code = "import sys, gtvlib, gtvlib.data.dicom, gtvlib.viz; print('torch' in sys.modules, 'torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_every_source_file_is_tracked_by_git():
    """A too-broad .gitignore pattern once hid gtvlib/data/: every module and chapter must be in git."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        import pytest

        pytest.skip("not a git checkout")
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split())
    sources = [p for folder in ("gtvlib", "tests", "notebooks", "book", "benchmarks") for p in (ROOT / folder).rglob("*")
               if p.is_file() and p.suffix in {".py", ".ipynb", ".md", ".bib", ".cfg"} and "__pycache__" not in p.parts
               and ".ipynb_checkpoints" not in p.parts]
    untracked = sorted(str(p.relative_to(ROOT)) for p in sources if str(p.relative_to(ROOT)) not in tracked)
    assert not untracked, f"not in git (check .gitignore): {untracked}"
