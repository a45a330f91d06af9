"""The whole book (executed once per test session, tests/book/conftest.py): its HTML, manifest, figures and widgets."""

import json
import re
import textwrap

import nbformat
import pytest
from bs4 import BeautifulSoup

from gtvlib import GtvError
from gtvlib.book.build import build_book
from gtvlib.book.project import toc_files, toc_notebooks
from tests.conftest import ROOT

pytestmark = pytest.mark.book
HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "executed"
PLOTLY_DIV = re.compile(r'<div id="([0-9a-f-]{36})" class="plotly-graph-div"')


def _page(entry: str) -> str:
    return (HTML / f"{entry}.html").read_text(encoding="utf-8")


def _outputs(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "code":
            yield from cell.outputs


def test_every_toc_entry_has_a_page(built_book):
    assert (built_book / "index.html").is_file()
    for entry in toc_files(ROOT):
        page = built_book / f"{entry}.html"
        assert page.is_file(), f"no page for {entry}"
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        assert soup.find("h1") is not None, f"{entry} has no title"


def test_run_manifest_and_provenance(built_book):
    manifest = json.loads((EXECUTED / "run_manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["profile"] == "quick"
    assert [n["source"] for n in manifest["notebooks"]] == [str(p.relative_to(ROOT)) for p in toc_notebooks(ROOT)]
    for notebook_path in toc_notebooks(ROOT):
        executed = nbformat.read(EXECUTED / notebook_path.relative_to(ROOT), as_version=4)
        assert executed.metadata["gtvbook"]["status"] == "ok"
        assert not any(o.output_type == "error" for o in _outputs(executed))


def test_every_plotly_figure_reaches_the_html(built_book):
    figures = 0
    for notebook_path in toc_notebooks(ROOT):
        relative = notebook_path.relative_to(ROOT)
        executed = nbformat.read(EXECUTED / relative, as_version=4)
        page = _page(str(relative.with_suffix("")))
        for output in _outputs(executed):
            data = output.get("data", {})
            assert not ("application/vnd.plotly.v1+json" in data and "text/html" not in data), \
                f"{relative}: a plotly figure only as plotly JSON would vanish from the book"
            for div_id in PLOTLY_DIV.findall(data.get("text/html", "")):
                figures += 1
                assert div_id in page, f"{relative}: plotly figure {div_id} missing from the HTML"
                # the div and the call that draws into it, with the figure's data, are both on the page
                assert re.search(r'Plotly\.newPlot\(\s*"' + div_id + '"', page), f"{relative}: {div_id} is never drawn"
    assert figures >= 2  # chapter 1 has an HU histogram and a 3-D contour view
    # the book reads offline: every page takes plotly.js from the book's own _static/, none from the CDN
    pages = [p.read_text(encoding="utf-8") for p in built_book.rglob("*.html")]
    assert not any("cdn.plot.ly" in page for page in pages)
    assert list((built_book / "_static").glob("plotly-*.min.js"))


def test_widget_state_saved_and_rendered(built_book):
    views = 0
    for notebook_path in toc_notebooks(ROOT):
        relative = notebook_path.relative_to(ROOT)
        executed = nbformat.read(EXECUTED / relative, as_version=4)
        state = executed.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
        page = _page(str(relative.with_suffix("")))
        for output in _outputs(executed):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view:
                views += 1
                assert view["model_id"] in state, f"{relative}: widget {view['model_id']} has no saved state"
                assert view["model_id"] in page
        if state:
            assert "application/vnd.jupyter.widget-state+json" in page
    assert views >= 1


def test_static_images_and_citations(built_book):
    page = BeautifulSoup(_page("notebooks/01_dicom_basics"), "html.parser")
    images = [img["src"] for img in page.find_all("img")]
    assert any(src.endswith(".png") for src in images)
    for src in images:
        assert (HTML / "notebooks" / src).resolve().is_file(), src
    references = _page("book/references").lower()  # the bibliography style recases titles
    for key_text in ("gross-tumor-volume segment-anything model", "rethinking automatic segmentation",
                     "pydicom: an open source"):
        assert key_text in references


def test_no_identifying_values_in_the_book(built_book):
    """The CT test file's patient name, IDs and institution reach no page and no output of an executed chapter."""
    from gtvlib.data.dicom import pydicom_test_file, read_dataset

    ct = read_dataset(pydicom_test_file("CT_small.dcm"))
    secrets = [str(ct.PatientName), "ABCD1234", "1234ABCD", str(ct.InstitutionName)]
    for page in HTML.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for secret in secrets:
            assert secret not in text, f"{secret!r} appears in {page.relative_to(HTML)}"
    for notebook_path in toc_notebooks(ROOT):
        executed = nbformat.read(EXECUTED / notebook_path.relative_to(ROOT), as_version=4)
        outputs = json.dumps([output for output in _outputs(executed)])
        for secret in secrets:
            assert secret not in outputs, f"{secret!r} appears in the outputs of {notebook_path.name}"


def test_build_fails_on_warnings(tmp_path):
    """-W is in force: a broken cross-reference in a page fails the build."""
    (tmp_path / "_config.yml").write_text((ROOT / "_config.yml").read_text())
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/references\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book/references.bib").write_text((ROOT / "book/references.bib").read_text())
    (tmp_path / "book/references.md").write_text("# References\n\n```{bibliography}\n```\n")
    (tmp_path / "book/intro.md").write_text(textwrap.dedent("""\
        # Intro

        See {cite:p}`no_such_key_2099`.
        """))
    with pytest.raises(GtvError, match="jupyter-book build failed"):
        build_book(tmp_path)
    (tmp_path / "book/intro.md").write_text("# Intro\n\nSee {cite:p}`yi2026gtvsamgan`.\n")
    assert build_book(tmp_path).is_file()
