"""Rules every chapter notebook follows (DESIGN.md, STYLE.md): stripped, python3 kernel, short code cells,
one typed parameters cell whose defaults are the quick profile, runnable standalone with plain papermill."""

import ast

import nbformat
import pytest

from gtvlib.book.profiles import declared_parameters, load_profiles, resolve_parameters
from gtvlib.book.project import toc_notebooks
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [path.stem for path in NOTEBOOKS]


def _parameters_cells(notebook):
    return [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def test_every_notebook_is_in_the_toc():
    assert NOTEBOOKS, "no notebooks found"
    assert sorted(toc_notebooks(ROOT)) == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
    assert "widgets" not in notebook.metadata and "papermill" not in notebook.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_kernel_and_one_parameters_cell(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert len(_parameters_cells(notebook)) == 1


MAX_CELL_LINES = 15  # STYLE.md: short cells that call gtvlib; reusable computations live in the library


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_code_cells_are_short(path):
    """Every code cell but the parameters cell (one line per parameter) has at most 15 lines."""
    notebook = nbformat.read(path, as_version=4)
    long = [(index, len(cell.source.splitlines())) for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", [])
            and len(cell.source.splitlines()) > MAX_CELL_LINES]
    assert not long, f"{path.name}: cells (index, lines) over {MAX_CELL_LINES} lines: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_parameters_are_annotated_with_help(path):
    """Every assignment in the cell is seen by papermill with a type and a help comment.

    (papermill silently drops annotations it cannot parse, e.g. ``float | None``: comparing with
    Python's own parse of the cell catches that.)
    """
    cell = _parameters_cells(nbformat.read(path, as_version=4))[0]
    tree = ast.parse(cell.source)
    assigned = {node.target.id for node in tree.body if isinstance(node, ast.AnnAssign)}
    plain = [node for node in tree.body if isinstance(node, ast.Assign)]
    assert not plain, f"{path.name}: parameters without a type annotation"
    declared = declared_parameters(path)
    assert set(declared) == assigned, f"{path.name}: papermill sees {sorted(declared)}, the cell assigns {sorted(assigned)}"
    for name, info in declared.items():
        assert info["inferred_type_name"] in {"int", "float", "str", "bool"} or info["inferred_type_name"].startswith(("list[", "dict[", "Optional[")), name
        assert info["help"].strip(), f"{path.name}: parameter {name} has no help comment"
    for line in cell.source.splitlines():
        if "#" in line:
            assert "=" not in line.split("#", 1)[1], f"{path.name}: '=' in a help comment breaks papermill: {line}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_defaults_equal_the_quick_profile(path):
    """The parameters cell holds exactly the quick profile, so nbval and JupyterLab run the quick book."""
    declared = {p.stem: declared_parameters(p) for p in toc_notebooks(ROOT)}
    quick = load_profiles(ROOT / "profiles.yaml")["quick"]
    resolved = resolve_parameters(quick, declared, [path.stem])[path.stem]
    for name, value in resolved.items():
        default = ast.literal_eval(declared[path.stem][name]["default"])
        assert default == value, f"{path.name}: default {name}={default!r} but profile quick says {value!r}"


def test_paper_profile_is_valid():
    declared = {p.stem: declared_parameters(p) for p in toc_notebooks(ROOT)}
    profiles = load_profiles(ROOT / "profiles.yaml")
    assert set(profiles) >= {"quick", "paper"}
    resolve_parameters(profiles["paper"], declared, list(declared))


@pytest.mark.parametrize(("cli", "expected"), [
    (("epochs", "0"), r"03_train_gtv_samgan: parameter epochs = 0 is outside its range 1 to 10000"),
    (("mode", "GAN"), r"03_train_gtv_samgan: parameter mode = 'GAN'; expected one of \['gan', 'supervised'\]"),
    (("validation_fraction", "1.5"), r"parameter validation_fraction = 1\.5 is outside its range 0\.05 to 0\.95"),
    (("balance_strategy", "theta3"), r"balance_strategy = 'theta3'; expected one of \['theta0', 'theta1'"),
])
def test_parameter_ranges_are_checked_before_anything_runs(cli, expected):
    """A help comment ending in "; 1 to 1000" or "; one of a, b" is a rule the runner enforces."""
    from gtvlib import GtvError

    declared = {p.stem: declared_parameters(p) for p in toc_notebooks(ROOT)}
    quick = load_profiles(ROOT / "profiles.yaml")["quick"]
    with pytest.raises(GtvError, match=expected):
        resolve_parameters(quick, declared, list(declared), [cli])


def test_range_syntax():
    from gtvlib.book.profiles import declared_range

    assert declared_range("training epochs (the paper: 100); 1 to 10000") == ("range", 1.0, 10000.0)
    assert declared_range("learning rate; 1.0e-7 to 1.0") == ("range", 1e-7, 1.0)
    assert declared_range("what to train; one of adapters, all") == ("choices", ["adapters", "all"])
    assert declared_range("a window (hcf_paper is -800 to 400 HU)") is None  # only a trailing rule counts
