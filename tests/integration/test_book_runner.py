"""The papermill runner on a small book written here: order, failures, timeouts, provenance, CLI."""

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from gtvlib import GtvError
from gtvlib.book.__main__ import main
from gtvlib.book.runner import PROVENANCE_KEY, run_book

pytestmark = pytest.mark.slow  # an integration module: every test here is of the slow tier


def _notebook(path: Path, parameters: str, *cells: str) -> None:
    notebook = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(textwrap.dedent(parameters).strip())
    params.metadata["tags"] = ["parameters"]
    notebook.cells = [params, *(nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


@pytest.fixture()
def small_book(tmp_path: Path, monkeypatch) -> Path:
    """Three notebooks: c (ok), a (fails in its third cell), b (ok) — TOC order c, a, b. The cache, runs and data
    folders are empty ones of its own (the run manifest fingerprints them)."""
    for variable, folder in (("GTVLIB_CACHE", "cache"), ("GTVLIB_RUNS", "runs"), ("GTVLIB_DATA", "data")):
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / folder))
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: intro
        chapters:
          - file: notebooks/c_first
          - file: notebooks/a_second
          - file: notebooks/b_third
        """))
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "profiles.yaml").write_text(textwrap.dedent("""\
        quick:
          timeout_per_notebook_s: 60
          parameters: {profile: quick}
          notebooks:
            c_first: {epochs: 2}
        slow:
          timeout_per_notebook_s: 6
          parameters: {}
        """))
    _notebook(tmp_path / "notebooks/c_first.ipynb",
              'profile: str = "quick"  # profile name\nepochs: int = 2  # epochs\nlr: float = 1.0e-3  # learning rate',
              "import os, pathlib\nprint(profile, epochs, lr, pathlib.Path.cwd().name, os.environ['PLOTLY_RENDERER'])")
    _notebook(tmp_path / "notebooks/a_second.ipynb", 'profile: str = "quick"  # profile name',
              "x = 1", "raise ValueError('broken on purpose')", "print('never')")
    _notebook(tmp_path / "notebooks/b_third.ipynb", "seconds: float = 0.0  # how long to sleep",
              "import time\ntime.sleep(seconds)\nprint('slept', seconds)")
    return tmp_path


def _stream(notebook: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


def test_runs_in_toc_order_failure_does_not_stop_the_rest(small_book, capsys):
    results = run_book(small_book, "quick", progress=False)
    assert [r.name for r in results] == ["c_first", "a_second", "b_third"]
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    failed = results[1]
    assert failed.error["cell"] == 2 and failed.error["ename"] == "ValueError"
    assert failed.error["evalue"] == "broken on purpose"
    summary = capsys.readouterr().out
    assert "FAILED notebooks/a_second.ipynb: cell 2" in summary and "broken on purpose" in summary

    executed = nbformat.read(small_book / "_build/executed/notebooks/c_first.ipynb", as_version=4)
    # parameters injected, kernel's cwd is the notebook's folder, plotly renderer set for the book
    assert "quick 2 0.001 notebooks notebook_connected" in _stream(executed)
    provenance = executed.metadata[PROVENANCE_KEY]
    for key in ("git_commit", "git_dirty", "gtvlib_version", "python_version", "torch_version", "cuda_version",
                "device", "profile", "parameters", "data_manifest_sha256", "started", "finished", "duration_s", "status"):
        assert key in provenance, key
    assert provenance["parameters"] == {"profile": "quick", "epochs": 2}
    assert provenance["status"] == "ok" and provenance["profile"] == "quick"

    failed_copy = nbformat.read(small_book / "_build/executed/notebooks/a_second.ipynb", as_version=4)
    assert failed_copy.metadata[PROVENANCE_KEY]["status"] == "failed"
    manifest = json.loads((small_book / "_build/executed/run_manifest.json").read_text())
    assert manifest["status"] == "failed" and [n["status"] for n in manifest["notebooks"]] == ["ok", "failed", "ok"]
    assert not list((small_book / "_build/executed").rglob("*.partial*"))


def test_only_and_cli_parameters_with_types(small_book):
    results = run_book(small_book, "quick", only=["b_third"], cli_parameters=[("seconds", "0.1")], progress=False)
    assert [r.name for r in results] == ["b_third"] and results[0].status == "ok"
    executed = nbformat.read(small_book / "_build/executed/notebooks/b_third.ipynb", as_version=4)
    assert "slept 0.1" in _stream(executed)


def test_per_notebook_timeout(small_book):
    results = run_book(small_book, "slow", only=["b_third"], cli_parameters=[("seconds", "120")], progress=False)
    assert results[0].status == "timeout"
    assert results[0].duration_s < 60
    assert "exceeded 6 s" in results[0].error["evalue"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-p", "epochz", "3"], "parameter 'epochz' is declared by none of the selected notebooks"),
        (["-p", "epochs", "two"], "'two' is not a valid int for parameter 'epochs'"),
        (["-p", "epochs", "2.5"], "'2.5' is not a valid int"),
        (["--only", "nope"], "--only nope: no such notebook"),
        (["-p", "seconds", "1", "--only", "c_first"], "'seconds' is declared by none of the selected notebooks"),
    ],
)
def test_bad_parameters_rejected_before_anything_runs(small_book, capsys, arguments, message):
    assert main(["--root", str(small_book), "run", "--profile", "quick", "--no-progress", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (small_book / "_build").exists()


@pytest.mark.parametrize(
    ("profile_text", "message"),
    [
        ("quick:\n  notebooks:\n    c_first: {epochs: 2.5}\n", "c_first.epochs: parameter 'epochs' = 2.5 (float) does not match the declared type int"),
        ("quick:\n  notebooks:\n    c_first: {lr: 1e-4}\n", "write 1.0e-4"),
        ("quick:\n  notebooks:\n    c_first: {batch: 4}\n", "sets c_first.batch, which c_first does not declare"),
        ("quick:\n  notebooks:\n    zzz: {epochs: 1}\n", "names notebooks ['zzz'] that are not in the table of contents"),
        ("quick:\n  parameters: {nothing: 1}\n", "sets parameter 'nothing', which no notebook declares"),
        ("quick:\n  timeout_per_notebook_s: -1\n", "timeout_per_notebook_s=-1"),
        ("quick: [1, 2]\n", "profile 'quick' must be a mapping"),
        ("quick:\n  epochs: 3\n", "unknown keys ['epochs']"),
    ],
)
def test_bad_profiles_rejected(small_book, profile_text, message):
    (small_book / "profiles.yaml").write_text(profile_text)
    with pytest.raises(GtvError, match=None) as caught:
        run_book(small_book, "quick", progress=False)
    assert message in str(caught.value)
    assert "profiles.yaml" in str(caught.value)
    assert not (small_book / "_build").exists()


def test_unknown_profile(small_book):
    with pytest.raises(GtvError, match=r"--profile gpu: unknown profile.*\['quick', 'slow'\]"):
        run_book(small_book, "gpu")


def test_cli_exit_code_and_summary(small_book, capsys):
    assert main(["--root", str(small_book), "run", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "2 ok, 1 failed" in out and "a_second" in out
    assert main(["--root", str(small_book), "run", "--only", "c_first", "--no-progress"]) == 0


def test_a_chapter_that_is_not_a_notebook_is_refused_before_anything_runs(small_book):
    (small_book / "notebooks/b_third.ipynb").write_text("{ this is not JSON")
    with pytest.raises(GtvError, match=r"b_third\.ipynb: not a readable Jupyter notebook \(.*\); expected an \.ipynb file"):
        run_book(small_book, "quick", progress=False)
    assert not (small_book / "_build" / "executed" / "notebooks" / "c_first.ipynb").exists()  # nothing ran


def test_plotly_js_is_served_from_the_book(tmp_path):
    """The CDN references of plotly's notebook_connected output point at one copy in _static/, for pages at
    any depth; the module import becomes a classic script (file:// pages refuse module imports)."""
    import plotly

    from gtvlib.book.build import _plotly_js_version, embed_plotly

    version = _plotly_js_version(Path(plotly.__file__).parent / "package_data" / "plotly.min.js")
    cdn = f"https://cdn.plot.ly/plotly-{version}.min"
    figure_html = (f'<script charset="utf-8" src="{cdn}.js" integrity="sha256-abc" crossorigin="anonymous"></script>'
                   f'<div id="f"></div><script type="module">import "{cdn}"</script>')
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "chapter.html").write_text(figure_html)
    (tmp_path / "index.html").write_text(figure_html)
    (tmp_path / "plain.html").write_text("<p>no figure</p>")
    assert embed_plotly(tmp_path) == 2
    local = f"_static/plotly-{version}.min.js"
    assert (tmp_path / local).stat().st_size > 1_000_000
    chapter, index = (tmp_path / "notebooks" / "chapter.html").read_text(), (tmp_path / "index.html").read_text()
    assert chapter.count(f'src="../{local}"') == 2 and index.count(f'src="./{local}"') == 2
    assert "cdn.plot.ly" not in chapter + index and "integrity" not in chapter and 'type="module"' not in chapter
    assert embed_plotly(tmp_path) == 0  # nothing left to change
    (tmp_path / "old.html").write_text('<script src="https://cdn.plot.ly/plotly-2.0.0.min.js"></script>')
    with pytest.raises(GtvError, match="plotly.js \\['2.0.0'\\].*expected the same version"):
        embed_plotly(tmp_path)


@pytest.fixture()
def claiming_book(tmp_path: Path, monkeypatch) -> Path:
    """One chapter stating its headline numbers and two claims, the second false; a git repository, committed."""
    import subprocess

    for variable, folder in (("GTVLIB_CACHE", "cache"), ("GTVLIB_RUNS", "runs"), ("GTVLIB_DATA", "data")):
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / folder))
    root = tmp_path / "book"
    (root / "notebooks").mkdir(parents=True)
    (root / "_config.yml").write_text("title: t\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: notebooks/d_claims\n")
    (root / "intro.md").write_text("# Intro\n")
    (root / "profiles.yaml").write_text("quick:\n  timeout_per_notebook_s: 60\n  parameters: {}\n")
    _notebook(root / "notebooks/d_claims.ipynb", "reference: float = 0.913  # the ellipse's Dice",
              "from gtvlib.book import claims\nclaims.headline('model', slice_dice=0.93)",
              "claims.claim('the model beats the ellipse', ('model Dice', 0.93), '>', ('ellipse Dice', reference))",
              "claims.claim('the model beats the threshold', ('model Dice', 0.93), '>', ('Otsu Dice', 0.95))")
    for command in (["init", "-q"], ["add", "."], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "book"]):
        subprocess.run(["git", *command], cwd=root, check=True)
    (root / ".gitignore").write_text("_build/\n")
    return root


def test_a_claim_the_numbers_do_not_support_fails_the_chapter_by_name(claiming_book, capsys):
    (result,) = run_book(claiming_book, "quick", progress=False)
    assert result.status == "failed" and result.error["ename"] == "ClaimNotSupported"
    message = ("chapter d_claims: claim 'the model beats the threshold' does not hold in this run: "
               "model Dice 0.93 > Otsu Dice 0.95 is false")
    assert result.error["evalue"] == message
    assert message in capsys.readouterr().out  # the run's summary names the chapter and the claim
    stated = nbformat.read(claiming_book / "_build/executed/notebooks/d_claims.ipynb", as_version=4).metadata[PROVENANCE_KEY]["stated"]
    assert stated["headline"] == [{"kind": "model", "numbers": {"slice_dice": 0.93}}]
    assert [c["text"] for c in stated["claims"]] == ["the model beats the ellipse", "the model beats the threshold"]
    manifest = json.loads((claiming_book / "_build/executed/run_manifest.json").read_text())
    assert manifest["notebooks"][0]["stated"] == stated and manifest["status"] == "failed"


def test_make_test_reuses_a_run_only_when_nothing_it_depends_on_changed(claiming_book, tmp_path):
    from gtvlib.book.runner import reusable_run

    assert reusable_run(claiming_book, "quick") == "no run manifest"
    (result,) = run_book(claiming_book, "quick", cli_parameters=[("reference", "0.9")], progress=False)
    assert "the run failed" in reusable_run(claiming_book, "quick")  # the threshold claim fails
    assert "parameters set on the command line" in reusable_run(claiming_book, "quick")
    notebook = claiming_book / "notebooks/d_claims.ipynb"
    notebook.write_text(notebook.read_text().replace("0.95))", "0.5))"))  # the false claim corrected, uncommitted
    run_book(claiming_book, "quick", progress=False)
    assert reusable_run(claiming_book, "quick") == "uncommitted changes"
    import subprocess

    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "fix"], cwd=claiming_book, check=True)
    assert "another commit" in reusable_run(claiming_book, "quick")
    run_book(claiming_book, "quick", progress=False)
    assert reusable_run(claiming_book, "quick") is None
    assert reusable_run(claiming_book, "paper") == "another profile than 'paper'"
    (tmp_path / "runs" / "a_run_trained_since.pt").write_bytes(b"weights")
    assert reusable_run(claiming_book, "quick") == "the cache, runs or data changed since"
