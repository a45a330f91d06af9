"""Checking DICOM objects against the standard with ``dciodvfy`` (David Clunie's dicom3tools, Debian package
``dicom3tools``), an independent verifier of every module, attribute type and value the IOD requires.

``make setup`` unpacks ``dciodvfy`` into the environment's ``bin`` when Debian's packages can be reached;
elsewhere install ``dicom3tools`` (Debian/Ubuntu) or build it from https://www.dclunie.com/dicom3tools.html.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gtvlib.util.errors import GtvError


def find_dciodvfy() -> Path | None:
    """The ``dciodvfy`` program: on the PATH, or beside this Python (the environment's ``bin``); None if absent."""
    found = shutil.which("dciodvfy")
    if found:
        return Path(found)
    beside = Path(sys.executable).parent / "dciodvfy"
    return beside if beside.is_file() and os.access(beside, os.X_OK) else None


@dataclass
class Verification:
    """What ``dciodvfy`` said of one file: its ``Error -`` and ``Warning -`` lines (without the prefix)."""

    path: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def verify_dicom(path: str | os.PathLike) -> Verification:
    """Run ``dciodvfy`` on one DICOM file and collect its errors and warnings.

    The lines name attributes and modules, never values, so they can be shown for files of real patients.
    A missing ``dciodvfy`` is a :class:`GtvError` saying how to install it.
    """
    program = find_dciodvfy()
    if program is None:
        raise GtvError("dciodvfy: not installed (expected Debian's dicom3tools: `apt-get install dicom3tools`, "
                       "or `make setup`, which unpacks it into the environment)")
    path = Path(path)
    if not path.is_file():
        raise GtvError(f"{path}: no such DICOM file to verify")
    result = subprocess.run([str(program), str(path)], capture_output=True, text=True, errors="replace", check=False)
    verification = Verification(str(path))
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("Error - "):
            verification.errors.append(line[len("Error - "):])
        elif line.startswith("Warning - "):
            verification.warnings.append(line[len("Warning - "):])
    return verification
