"""What a chapter's text says about its own numbers, recorded by the run and checked by the book's tests.

A chapter calls :func:`headline` with the numbers a reader takes away (the model's score, every reference beside
it, the paper's number, the test it ran; recorded silently) and :func:`claim` for every sentence of its prose that compares numbers of
the run ("the model beats the ellipse", "the simulated physician's ITV is larger than the truth"). Each claim prints
one line, so a reader sees what was checked and whether it held.

When the book runner executes the chapter it sets :data:`ENV` to a file; every call rewrites that file (atomically)
with all the chapter has stated so far. The runner moves the statements into the executed copy's metadata and the
run manifest, and marks the chapter failed when a claim does not hold — so a claim the numbers do not support fails
``make book`` and the book tier of ``make test`` (:func:`failed_claims`) instead of reaching a reader. Outside the
runner (JupyterLab, plain papermill, nbval) nothing is written.

Relations: ``>``, ``>=``, ``<``, ``<=`` between two numbers, and ``within`` (a number inside a closed interval
``(low, high)``). A NaN never satisfies a relation.
"""

from __future__ import annotations

import math
import operator
import os
from pathlib import Path

from gtvlib.util.atomic import write_json_atomic
from gtvlib.util.errors import GtvError

ENV = "GTVBOOK_CLAIMS"
RELATIONS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_stated: dict[str, list] = {"headline": [], "claims": []}


def _number(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GtvError(f"claim number {name!r}: {value!r} is not a number; expected a float (a score, a p value, …)") from None


def holds(left: float, relation: str, right) -> bool:
    """Whether ``left relation right`` holds (``right`` is a ``(low, high)`` pair for ``within``); NaN never holds."""
    if relation == "within":
        low, high = (float(v) for v in right)
        return not any(math.isnan(v) for v in (left, low, high)) and low <= left <= high
    if relation not in RELATIONS:
        raise GtvError(f"claim relation {relation!r}: unknown; expected one of {[*RELATIONS, 'within']}")
    return not (math.isnan(left) or math.isnan(right)) and RELATIONS[relation](left, right)


def _write() -> None:
    target = os.environ.get(ENV)
    if target:
        write_json_atomic(Path(target), _stated)


def reset() -> None:
    """Forget what this kernel has stated (the runner starts each chapter in a fresh kernel; tests call this)."""
    _stated["headline"].clear()
    _stated["claims"].clear()
    _write()


def headline(kind: str, **numbers) -> None:
    """Record a chapter's headline numbers of one ``kind`` ("model", "reference", "paper", "test", "data").

    Example: ``headline("model", slice_dice=0.93, patient_dice=0.91)``. Nothing is printed: the chapter prints
    these numbers in its own words; they go to the run manifest.
    """
    if not numbers:
        raise GtvError(f"headline({kind!r}): no numbers given; expected name=value pairs")
    values = {name: _number(name, value) for name, value in numbers.items()}
    _stated["headline"].append({"kind": kind, "numbers": values})
    _write()


def claim(text: str, left: tuple[str, float], relation: str, right) -> bool:
    """State that ``left relation right`` holds in this run, as the chapter's ``text`` says; print whether it does.

    ``left`` is ``(name, value)``; ``right`` is ``(name, value)``, a bare number, or for ``within`` a
    ``(name, (low, high))`` pair. Returns whether the claim holds.
    """
    left_name, left_value = left[0], _number(left[0], left[1])
    right_name, right_value = right if isinstance(right, tuple) and isinstance(right[0], str) else (None, right)
    if relation == "within":
        right_value = [_number(right_name or "interval", v) for v in right_value]
    else:
        right_value = _number(right_name or "bound", right_value)
    ok = holds(left_value, relation, right_value)
    entry = {"text": text, "left": [left_name, left_value], "relation": relation,
             "right": [right_name, right_value], "holds": ok}
    _stated["claims"].append(entry)
    _write()
    print(("checked in this run: " if ok else "DOES NOT HOLD in this run: ") + f"{text} ({describe(entry)})")
    return ok


def describe(entry: dict) -> str:
    """``name value relation name value`` of one recorded claim."""
    (left_name, left_value), (right_name, right_value) = entry["left"], entry["right"]
    right_text = (f"[{right_value[0]:.4g}, {right_value[1]:.4g}]" if entry["relation"] == "within"
                  else f"{right_value:.4g}")
    return f"{left_name} {left_value:.4g} {entry['relation']} {(right_name + ' ') if right_name else ''}{right_text}"


def failed_claims(chapter: str, stated: dict) -> list[str]:
    """One message per claim of ``chapter`` whose relation does not hold on its recorded numbers (re-evaluated
    here, not read from the flag the kernel wrote)."""
    failures = []
    for entry in stated.get("claims", []):
        right = entry["right"][1]
        if not holds(entry["left"][1], entry["relation"], right):
            failures.append(f"chapter {chapter}: claim {entry['text']!r} does not hold in this run: {describe(entry)} is false")
    return failures


def manifest_failures(manifest: dict) -> list[str]:
    """:func:`failed_claims` of every chapter of a run manifest (``_build/executed/run_manifest.json``), and one
    message per chapter that stated no headline number."""
    failures = []
    for notebook in manifest.get("notebooks", []):
        stated = notebook.get("stated") or {}
        if not stated.get("headline"):
            failures.append(f"chapter {notebook['name']}: no headline numbers recorded (gtvlib.book.claims.headline)")
        failures += failed_claims(notebook["name"], stated)
    return failures
