"""Execute the book's notebooks with papermill, one at a time, in table-of-contents order.

Each notebook runs in its own papermill process (kernel ``python3``, working directory = the
notebook's folder, ``PLOTLY_RENDERER=notebook_connected``) under a per-notebook time limit. The
executed copy is stamped with provenance and written atomically to ``_build/executed/``; a failing
notebook does not stop the others, and the run ends with a summary naming each failing notebook and
cell. A JSON run manifest records the whole run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from gtvlib.book.claims import ENV as CLAIMS_ENV
from gtvlib.book.claims import failed_claims
from gtvlib.book.profiles import declared_parameters, load_profiles, resolve_parameters
from gtvlib.book.project import toc_notebooks
from gtvlib.book.provenance import environment_provenance, now_iso
from gtvlib.util.atomic import atomic_path, remove_stale_partials, write_json_atomic
from gtvlib.util.checksums import tree_fingerprint
from gtvlib.util.errors import GtvError
from gtvlib.util.paths import cache_dir, data_dir, runs_dir

KERNEL_NAME = "python3"
EXECUTED_DIR = Path("_build") / "executed"
RUN_MANIFEST = "run_manifest.json"
PROVENANCE_KEY = "gtvbook"
# Cells papermill adds to an executed copy; they are not part of the source notebook.
_ADDED_BY_PAPERMILL = {"injected-parameters", "papermill-error-cell-tag"}


@dataclass
class NotebookResult:
    """Outcome of one notebook."""

    name: str
    source: str  # path relative to the root
    output: str  # executed copy, relative to the root
    parameters: dict
    status: str = "not run"  # ok | failed | timeout
    started: str = ""
    finished: str = ""
    duration_s: float = 0.0
    error: dict = field(default_factory=dict)  # cell, execution_count, ename, evalue, source_head
    stated: dict = field(default_factory=dict)  # headline numbers and claims (gtvlib.book.claims)


def batch_environment() -> dict[str, str]:
    """Environment of every papermill process: plotly renders HTML the book keeps; our kernel spec wins."""
    env = dict(os.environ)
    env["PLOTLY_RENDERER"] = "notebook_connected"
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["GTVLIB_BATCH"] = "1"  # gtvlib turns progress bars off in batch runs
    return env


def select_notebooks(root: Path, only: list[str] | None) -> list[Path]:
    """Notebooks in TOC order, restricted to ``only`` (stems or paths) when given."""
    notebooks = toc_notebooks(root)
    if not only:
        return notebooks
    by_stem = {path.stem: path for path in notebooks}
    chosen = set()
    for name in only:
        stem = Path(name).stem
        if stem not in by_stem:
            raise GtvError(f"--only {name}: no such notebook in _toc.yml; expected one of {sorted(by_stem)}")
        chosen.add(stem)
    return [path for path in notebooks if path.stem in chosen]


def first_error(executed: nbformat.NotebookNode) -> dict:
    """Locate the first cell with an error output: its index in the *source* notebook and the error."""
    source_index = -1
    for cell in executed.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if not _ADDED_BY_PAPERMILL.intersection(tags):
            source_index += 1
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                head = next((line for line in cell.source.splitlines() if line.strip()), "")
                return {
                    "cell": source_index,
                    "execution_count": cell.get("execution_count"),
                    "ename": output.get("ename", ""),
                    "evalue": output.get("evalue", ""),
                    "source_head": head[:120],
                }
    return {}


def execute_one(
    notebook: Path,
    output: Path,
    parameters: dict,
    timeout_s: float,
    progress: bool,
    log_path: Path,
    claims_path: Path | None = None,
) -> tuple[str, dict]:
    """Run one notebook with papermill in a child process; return (status, error).

    The executed notebook is written to a temporary file and moved onto ``output`` only after it
    has been stamped (by the caller): here it stays at ``output.with_suffix('.partial.ipynb')``.
    What the chapter states (:mod:`gtvlib.book.claims`) is written by its kernel to ``claims_path``.
    """
    partial = output.with_suffix(".partial.ipynb")
    partial.parent.mkdir(parents=True, exist_ok=True)
    if partial.exists():
        partial.unlink()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(parameters, handle)
        params_file = handle.name
    command = [
        sys.executable, "-m", "papermill", str(notebook), str(partial),
        "-f", params_file, "-k", KERNEL_NAME, "--cwd", str(notebook.parent),
        "--execution-timeout", str(int(timeout_s)),
        "--progress-bar" if progress else "--no-progress-bar",
        "--log-level", "WARNING",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    status, error = "ok", {}
    with log_path.open("w", encoding="utf-8") as log:
        env = batch_environment()
        if claims_path is not None:
            env[CLAIMS_ENV] = str(claims_path)
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=None if progress else log,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            status = "timeout"
            error = {"ename": "Timeout", "evalue": f"notebook exceeded {timeout_s:.0f} s"}
            returncode = None
    os.unlink(params_file)
    if partial.exists():
        try:
            executed = nbformat.read(partial, as_version=4)
        except Exception as exc:  # a notebook cut off while being written
            executed = None
            error = error or {"ename": type(exc).__name__, "evalue": f"unreadable executed copy: {exc}"}
        if executed is not None:
            found = first_error(executed)
            if found:
                error = {**found, **({"ename": "Timeout", "evalue": error["evalue"]} if status == "timeout" else {})}
    if status == "ok" and returncode != 0:
        status = "failed"
        if not error:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
            error = {"ename": "PapermillError", "evalue": " | ".join(tail) or f"exit code {returncode}"}
    return status, error


def stamp(partial: Path, output: Path, provenance: dict) -> None:
    """Write provenance into the executed notebook's metadata, then move it onto ``output``."""
    executed = nbformat.read(partial, as_version=4)
    executed.metadata[PROVENANCE_KEY] = provenance
    with atomic_path(output) as tmp:
        nbformat.write(executed, tmp)
    partial.unlink()


def run_book(
    root: Path,
    profile_name: str,
    only: list[str] | None = None,
    cli_parameters: list[tuple[str, str]] = (),
    progress: bool | None = None,
    out: callable = print,
) -> list[NotebookResult]:
    """Execute the selected notebooks and write ``_build/executed/run_manifest.json``.

    All parameters are validated before the first notebook starts. Returns one result per notebook.
    """
    profiles_path = root / "profiles.yaml"
    profiles = load_profiles(profiles_path)
    if profile_name not in profiles:
        raise GtvError(f"--profile {profile_name}: unknown profile; {profiles_path} defines {sorted(profiles)}")
    profile = profiles[profile_name]
    selected = select_notebooks(root, only)
    declared = {path.stem: declared_parameters(path) for path in toc_notebooks(root)}
    parameters = resolve_parameters(profile, declared, [p.stem for p in selected], list(cli_parameters), profiles_path)
    progress = sys.stderr.isatty() if progress is None else progress

    executed_dir = root / EXECUTED_DIR
    for folder in (executed_dir, *{executed_dir / path.parent.relative_to(root) for path in selected}):
        remove_stale_partials(folder)  # files a killed run was writing
    environment = environment_provenance(root)
    state_before = state_fingerprint()
    run_started, clock = now_iso(), time.perf_counter()
    results: list[NotebookResult] = []
    out(f"gtv-book: running {len(selected)} notebook(s), profile {profile_name!r}, "
        f"limit {profile.timeout_per_notebook_s:.0f} s each, on {environment['device']}")
    for number, notebook in enumerate(selected, 1):
        relative = notebook.relative_to(root)
        output = executed_dir / relative
        result = NotebookResult(notebook.stem, str(relative), str(output.relative_to(root)), parameters[notebook.stem])
        out(f"[{number}/{len(selected)}] {relative} ...", )
        result.started, started = now_iso(), time.perf_counter()
        claims_path = executed_dir / "logs" / f"{notebook.stem}.claims.json"
        claims_path.unlink(missing_ok=True)
        result.status, result.error = execute_one(
            notebook, output, result.parameters, profile.timeout_per_notebook_s, progress,
            executed_dir / "logs" / f"{notebook.stem}.log", claims_path,
        )
        result.stated = json.loads(claims_path.read_text(encoding="utf-8")) if claims_path.is_file() else {}
        unsupported = failed_claims(notebook.stem, result.stated)
        if result.status == "ok" and unsupported:
            result.status = "failed"
            result.error = {"ename": "ClaimNotSupported", "evalue": "; ".join(unsupported)}
        result.finished, result.duration_s = now_iso(), round(time.perf_counter() - started, 2)
        partial = output.with_suffix(".partial.ipynb")
        if partial.exists():
            stamp(partial, output, {
                **environment, "profile": profile_name, "parameters": result.parameters,
                "started": result.started, "finished": result.finished,
                "duration_s": result.duration_s, "status": result.status, "error": result.error,
                "stated": result.stated,
            })
        out(f"[{number}/{len(selected)}] {relative}: {result.status} in {result.duration_s:.1f} s"
            + (f" — {describe_error(result)}" if result.status != "ok" else ""))
        results.append(result)

    failed = [r for r in results if r.status != "ok"]
    write_json_atomic(executed_dir / RUN_MANIFEST, {
        **environment,
        "profile": profile_name,
        "command_line_parameters": dict(cli_parameters),
        "started": run_started,
        "finished": now_iso(),
        "duration_s": round(time.perf_counter() - clock, 2),
        "status": "failed" if failed else "ok",
        # what the chapters read and wrote, before and after: reusable_run() compares the latter with the present
        "state_before": state_before,
        "state_after": state_fingerprint(),
        "notebooks": [vars(r) for r in results],
    })
    total = sum(r.duration_s for r in results)
    out(f"gtv-book: {len(results) - len(failed)} ok, {len(failed)} failed, {total:.1f} s in notebooks; "
        f"executed copies in {executed_dir.relative_to(root)}/")
    for result in failed:
        out(f"  FAILED {result.source}: {describe_error(result)} (log: {EXECUTED_DIR / 'logs' / (result.name + '.log')})")
    return results


def state_fingerprint() -> str:
    """What the chapters read and write: a fingerprint of the cache, runs and data folders (no path leaves it)."""
    return tree_fingerprint([cache_dir(), runs_dir(), data_dir()])


def reusable_run(root: Path, profile_name: str) -> str | None:
    """Why ``_build/executed`` cannot stand for a fresh run of the whole book in ``profile_name`` — or None when it
    can: every chapter of the table of contents ran there, with the profile's own parameters and nothing set on the
    command line, from this very commit with no uncommitted change, it ended ok, and no file of the cache, runs or
    data folders changed since (the manifest's fingerprint). ``make test`` then checks those copies instead of
    executing the book again after ``make book``."""
    manifest_path = root / EXECUTED_DIR / RUN_MANIFEST
    if not manifest_path.is_file():
        return "no run manifest"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    environment = environment_provenance(root)
    expected_sources = [str(p.relative_to(root)) for p in toc_notebooks(root)]
    reasons = {
        "the run failed": manifest.get("status") != "ok",
        f"another profile than {profile_name!r}": manifest.get("profile") != profile_name,
        "parameters set on the command line": bool(manifest.get("command_line_parameters")),
        "not every chapter": [n.get("source") for n in manifest.get("notebooks", [])] != expected_sources,
        "another commit": manifest.get("git_commit") != environment["git_commit"],
        "uncommitted changes": environment["git_dirty"] is not False or manifest.get("git_dirty") is not False,
        "another environment": any(manifest.get(k) != environment[k] for k in ("gtvlib_version", "torch_version", "device")),
        "an executed copy is missing": not all((root / n["output"]).is_file() for n in manifest.get("notebooks", [])),
        "the cache, runs or data changed since": manifest.get("state_after") != state_fingerprint(),
    }
    found = [reason for reason, applies in reasons.items() if applies]
    return "; ".join(found) if found else None


def describe_error(result: NotebookResult) -> str:
    """One line naming the failing cell and the error."""
    error = result.error or {}
    where = f"cell {error['cell']} ({error.get('source_head', '')!r})" if "cell" in error else "before any cell"
    return f"{where}: {error.get('ename', 'error')}: {error.get('evalue', '')}".strip()
