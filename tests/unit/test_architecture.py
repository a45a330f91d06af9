"""The shape of the house: no import cycles, package maps, one home per shared job, a new model family plugs in."""

import ast
import re
import sys
import types
from pathlib import Path

import pytest
import torch

import gtvlib
from gtvlib.util.errors import GtvError

PACKAGE = Path(gtvlib.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _import_graph() -> dict[str, set[str]]:
    """Module → gtvlib modules it imports anywhere in its file (top level or inside functions)."""
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    graph = _import_graph()
    assert _cycles(graph) == []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check itself works


def test_the_library_reads_one_way():
    """Data never reaches up into models, training or the book; the book runner imports no model code."""
    graph = _import_graph()
    upper = ("gtvlib.models", "gtvlib.train", "gtvlib.evaluation", "gtvlib.runs", "gtvlib.inference", "gtvlib.book", "gtvlib.viz",
             "gtvlib.chapters", "gtvlib.segment")
    for name, targets in graph.items():
        if name.startswith("gtvlib.data"):
            assert not [t for t in targets if t.startswith((*upper, "gtvlib.recurrence", "gtvlib.segment"))], name
        if name.startswith("gtvlib.recurrence"):  # from masks and tables to prognosis: no model or book code
            assert not [t for t in targets if t.startswith(upper)], name
        if name.startswith("gtvlib.util"):  # shared utilities use no stage
            assert not [t for t in targets if t.startswith(("gtvlib.data", "gtvlib.recurrence", *upper))], name


@pytest.mark.parametrize("package", ["gtvlib", "gtvlib.data", "gtvlib.data.dicom", "gtvlib.data.synthetic",
                                     "gtvlib.data.slices", "gtvlib.models", "gtvlib.recurrence",
                                     "gtvlib.training", "gtvlib.evaluation", "gtvlib.inference", "gtvlib.chapters",
                                     "gtvlib.util"])
def test_each_package_docstring_maps_its_modules(package):
    folder = PACKAGE.parent.joinpath(*package.split("."))
    docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
    children = [p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__")]
    children += [p.name for p in folder.iterdir() if (p / "__init__.py").is_file()]
    missing = [child for child in children if not re.search(rf"\b{child}\b", docstring)]
    assert not missing, f"{package}'s docstring does not mention {missing}"


@pytest.mark.parametrize("marker, home", [
    ("tqdm", {"gtvlib/util/progress.py"}),
    ("init_process_group", {"gtvlib/util/device.py"}),
    ("torch.autocast", {"gtvlib/util/device.py"}),
    ("hashlib", {"gtvlib/util/checksums.py", "gtvlib/data/dicom/writers.py"}),  # file and settings hashes; DICOM UIDs
    ("ProcessPoolExecutor(", {"gtvlib/util/parallel.py"}),  # forked workers; spawned trainers
    ("csv.DictWriter", {"gtvlib/runs.py", "gtvlib/data/synthetic/cohort.py"}),  # run tables; the clinical table
    ("ndimage.label(", {"gtvlib/util/components.py"}),  # connected components
])
def test_one_home_for_each_shared_job(marker, home):
    found = {str(path.relative_to(PACKAGE.parent)) for path in _modules().values() if marker in path.read_text()}
    assert found == home


def test_no_module_is_two_ideas():
    """A module that grows past 400 lines is two ideas (STYLE.md): split it."""
    long = {str(path.relative_to(PACKAGE.parent)): n for path in _modules().values()
            if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_only_the_book_runner_reads_notebooks():
    """Library and chapter code never parse a notebook: a chapter's defaults are typed in its module (tests hold them
    equal to the parameters cell); only gtvlib/book (runner, build, profiles) opens .ipynb files."""
    readers = {str(path.relative_to(PACKAGE.parent)) for path in _modules().values()
               if re.search(r"\.ipynb|inspect_notebook|declared_parameters|nbformat", path.read_text())}
    assert readers and all(path.startswith("gtvlib/book/") for path in readers), readers


def test_chapters_never_import_each_other_and_the_library_no_chapter():
    graph = _import_graph()
    for name, targets in graph.items():
        chapters = {t for t in targets if t.startswith("gtvlib.chapters.")}
        if name.startswith("gtvlib.chapters."):
            assert not chapters, f"{name} imports {chapters}"
        elif not name.startswith("gtvlib.chapters"):
            assert not chapters, f"library module {name} imports chapter code {chapters}"


def test_one_epoch_loop_and_one_training_configuration():
    """Every model family trains through gtvlib.training.fit: one epoch loop in the library, one class of loop
    settings, and no loop of its own in a recipe."""
    loops = {str(path.relative_to(PACKAGE.parent)) for path in _modules().values()
             if re.search(r"for epoch in range\(", path.read_text())}
    assert loops == {"gtvlib/training/loop.py"}
    settings = {str(path.relative_to(PACKAGE.parent)) for path in _modules().values()
                if re.search(r"^class FitConfig\b", path.read_text(), re.M)}
    assert settings == {"gtvlib/training/config.py"}
    steps = {str(path.relative_to(PACKAGE.parent)) for path in _modules().values()
             if re.search(r"\.backward\(\)", path.read_text())}
    assert steps == {"gtvlib/training/objectives.py"}
    run_keys = {str(path.relative_to(PACKAGE.parent)) for path in _modules().values()
                if re.search(r"^def run_for\(", path.read_text(), re.M)}
    assert run_keys == {"gtvlib/training/loop.py"}


def test_one_per_patient_scorer_and_one_evaluation_type():
    """Every family's patients are scored by metrics.patient_row (one column vocabulary) into the one Evaluation
    type (and the classifier's): no module builds its own per-patient volume columns or result class."""
    scorers = {str(path.relative_to(PACKAGE.parent)) for path in _modules().values()
               if re.search(r"[\"'](reference|false_positive|fp|truth)_cm3[\"']\s*:", path.read_text())}
    assert scorers == {"gtvlib/metrics.py"}
    results = {str(path.relative_to(PACKAGE.parent)) for path in _modules().values()
               if re.search(r"^class \w*Evaluation\b", path.read_text(), re.M)}
    assert results == {"gtvlib/evaluation/results.py"}


@pytest.fixture
def toy_family(monkeypatch):
    """A prompt-free family registered the way a new one would be: a module with builders and a REGISTRY."""
    from gtvlib import models
    from gtvlib.models.spec import ModelSpec

    module = types.ModuleType("gtvlib.models.toy")

    def build_toy_threshold():
        torch.manual_seed(0)
        return torch.nn.Conv2d(1, 1, kernel_size=1)

    def predict_plain(model, images, labels):
        return model(images)

    module.REGISTRY = {"toy_threshold": ModelSpec(name="toy_threshold", family="toy", build=build_toy_threshold,
                                                  input_size=64, prompt="none", predict=predict_plain,
                                                  description="a 1 × 1 convolution", parameter_groups={"the bias": "bias"})}
    monkeypatch.setitem(sys.modules, "gtvlib.models.toy", module)
    monkeypatch.setattr(models, "FAMILIES", (*models.FAMILIES, "toy"))
    return module


def test_a_new_model_family_plugs_in(toy_family, small_cohort, tmp_path):
    from gtvlib.data import slices
    from gtvlib.evaluation.slices import evaluate
    from gtvlib.models import build_model, describe_model, model_registry, model_spec

    assert {"sam_med2d_tiny", "sam_med2d_vit_b", "toy_threshold"} <= set(model_registry())
    model = build_model("toy_threshold")
    assert describe_model("toy_threshold", model) == ("toy_threshold: a 1 × 1 convolution, input 64 px; 2 parameters, "
                                                      "2 trained (1 in the bias)")
    data = slices.prepared_from_parts(small_cohort, ["SYNTH-001"], ["SYNTH-003"], crop=slices.Box(16, 16, 112, 112),
                                      size=64, cache_dir=tmp_path)
    with torch.no_grad():  # tumour-like soft tissue (the window's upper half) against lung
        model.weight.fill_(20.0)
        model.bias.fill_(-13.0)
    result = evaluate(model, data.cache, ["SYNTH-003"], torch.device("cpu"), model_spec("toy_threshold").predict, slices="all")
    assert len(result.per_slice) == data.cache.load("SYNTH-003")[0].shape[0]
    assert 0 < result.per_patient[0]["dice"] < 1 and result.per_patient[0]["flag"] == ""


def test_a_name_registered_twice_is_refused(toy_family):
    from gtvlib.models import model_registry

    toy_family.REGISTRY["sam_med2d_tiny"] = toy_family.REGISTRY["toy_threshold"]
    with pytest.raises(GtvError, match="'sam_med2d_tiny' is registered by both sam_med2d and toy"):
        model_registry()


def test_an_unknown_model_lists_the_registered_ones():
    from gtvlib.models import build_model

    expected = (r"model 'sam_vit_h' is not registered; expected one of \['attention_unet', 'dynunet', 'hcf_classifier', "
                r"'hcf_classifier_w16', 'igtv', 'igtv_ct', 'igtv_ct_small', 'igtv_mamba', 'igtv_mamba_small', 'igtv_pet', "
                    r"'igtv_pet_small', 'igtv_plain', 'igtv_plain_small', 'igtv_small', "
                    r"'prompt_box', 'prompt_ellipse', 'prompt_threshold', 'sam_med2d_tiny', 'sam_med2d_tiny_no_zoom', 'sam_med2d_vit_b', "
                r"'sanet', 'sanet_authors_warp', 'sanet_authors_warp_w16', 'sanet_no_alignment', 'sanet_no_alignment_w16', "
                r"'sanet_no_ppm', 'sanet_no_ppm_w16', 'sanet_w16', 'swin_unetr', 'unet', 'unet3d', 'unet3d_small', 'unetpp', "
                r"'unetpp_ds'\]")
    with pytest.raises(GtvError, match=expected):
        build_model("sam_vit_h")
