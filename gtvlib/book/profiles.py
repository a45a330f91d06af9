"""Profiles (``profiles.yaml``) and notebook parameters, validated before any notebook starts.

``profiles.yaml`` maps a profile name to::

    quick:
      description: what this profile is for
      timeout_per_notebook_s: 900        # a notebook running longer is stopped
      parameters:                        # given to every notebook that declares the name
        profile: quick
      notebooks:                         # per notebook (file stem), names it must declare
        01_dicom_basics:
          histogram_bins: 120

Every value is checked against the type annotated in the notebook's ``parameters`` cell, as
``papermill.inspect_notebook`` reads it. Command-line values (``-p NAME VALUE``) are strings and are
converted to the declared type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gtvlib.util.errors import GtvError
from gtvlib.util.yamlfile import read_yaml

_SCALAR_TYPES = {"int", "float", "str", "bool"}
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


@dataclass(frozen=True)
class Profile:
    """One named parameter set."""

    name: str
    description: str
    timeout_per_notebook_s: float
    parameters: dict = field(default_factory=dict)
    notebooks: dict = field(default_factory=dict)


def load_profiles(path: Path) -> dict[str, Profile]:
    """Read and structurally validate ``profiles.yaml``."""
    raw = read_yaml(path, "profiles file (expected profiles.yaml at the repository root)")
    if not isinstance(raw, dict) or not raw:
        raise GtvError(f"{path}: expected a mapping of profile names to settings")
    profiles = {}
    for name, body in raw.items():
        if not isinstance(body, dict):
            raise GtvError(f"{path}: profile {name!r} must be a mapping, got {type(body).__name__}")
        unknown = set(body) - {"description", "timeout_per_notebook_s", "parameters", "notebooks"}
        if unknown:
            raise GtvError(
                f"{path}: profile {name!r} has unknown keys {sorted(unknown)}; expected description, "
                "timeout_per_notebook_s, parameters, notebooks"
            )
        timeout = body.get("timeout_per_notebook_s", 1800)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise GtvError(f"{path}: profile {name!r}: timeout_per_notebook_s={timeout!r}, expected seconds > 0")
        for key in ("parameters", "notebooks"):
            if not isinstance(body.get(key) or {}, dict):
                raise GtvError(f"{path}: profile {name!r}: {key} must be a mapping")
        notebooks = body.get("notebooks") or {}
        for stem, values in notebooks.items():
            if not isinstance(values or {}, dict):
                raise GtvError(f"{path}: profile {name!r}: notebooks.{stem} must be a mapping of parameters")
        profiles[name] = Profile(
            name=name,
            description=str(body.get("description", "")),
            timeout_per_notebook_s=float(timeout),
            parameters=dict(body.get("parameters") or {}),
            notebooks={stem: dict(values or {}) for stem, values in notebooks.items()},
        )
    return profiles


def declared_parameters(notebook: Path) -> dict[str, dict]:
    """The parameters a notebook declares: ``{name: {"inferred_type_name", "default", "help"}}``.

    A file that is not a notebook (not JSON, or not nbformat) is a :class:`GtvError` naming it."""
    import papermill

    try:
        return papermill.inspect_notebook(str(notebook))
    except Exception as exc:  # nbformat's NotJSONError, ValidationError, papermill's own errors
        raise GtvError(f"{notebook}: not a readable Jupyter notebook ({type(exc).__name__}: "
                       f"{str(exc).strip().splitlines()[0][:160] if str(exc).strip() else 'no detail'}); "
                       "expected an .ipynb file in nbformat 4") from None


def _split_type(type_name: str) -> tuple[str, bool]:
    """``"Optional[int]"`` → ``("int", True)``; ``"list[int]"`` → ``("list", False)``."""
    optional = False
    match = re.fullmatch(r"Optional\[(.+)\]", type_name)
    if match:
        type_name, optional = match.group(1), True
    return type_name.split("[", 1)[0].strip(), optional


def check_value(name: str, value, type_name: str, where: str):
    """Return ``value`` as the declared type, or raise :class:`GtvError` saying what was expected.

    ``where`` says where the value came from (a file and key, or the command line).
    """
    base, optional = _split_type(type_name)
    if value is None and optional:
        return None
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "list": isinstance(value, (list, tuple)),
        "tuple": isinstance(value, (list, tuple)),
        "dict": isinstance(value, dict),
    }.get(base)
    if ok is None:
        raise GtvError(f"{where}: parameter {name!r} is annotated {type_name!r}, which the runner cannot check; "
                       "annotate parameters as int, float, str, bool, list[...], dict[...] or Optional[...]")
    if not ok:
        hint = ""
        if base == "float" and isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value):
            hint = " (YAML 1.1 reads 1e-4 as a string: write 1.0e-4)"
        raise GtvError(
            f"{where}: parameter {name!r} = {value!r} ({type(value).__name__}) does not match the declared "
            f"type {type_name}{hint}"
        )
    if base == "float":
        return float(value)
    if base in ("list", "tuple"):
        return list(value)
    return value


def parse_cli_value(name: str, text: str, type_name: str):
    """Convert a command-line string to the declared type of parameter ``name``."""
    base, optional = _split_type(type_name)
    where = f"command line (-p {name} {text})"
    if optional and text.strip().lower() in {"none", "null"}:
        return None
    try:
        if base == "int":
            return int(text)
        if base == "float":
            return float(text)
        if base == "bool":
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("not a boolean")
        if base == "str":
            return text
        return check_value(name, yaml.safe_load(text), type_name, where)
    except ValueError:
        raise GtvError(f"{where}: {text!r} is not a valid {type_name} for parameter {name!r}") from None


def resolve_parameters(
    profile: Profile,
    declared: dict[str, dict[str, dict]],
    selected: list[str],
    cli: list[tuple[str, str]] = (),
    profiles_path: Path | str = "profiles.yaml",
) -> dict[str, dict]:
    """Parameters per selected notebook, validated: ``{stem: {name: value}}``.

    ``declared`` maps every notebook stem of the book to its declared parameters. Raises
    :class:`GtvError` for a profile key naming no notebook, a parameter a notebook does not declare,
    a command-line parameter no selected notebook declares, or a value of the wrong type.
    """
    unknown_stems = sorted(set(profile.notebooks) - set(declared))
    if unknown_stems:
        raise GtvError(
            f"{profiles_path}: profile {profile.name!r} names notebooks {unknown_stems} that are not in the "
            f"table of contents; expected some of {sorted(declared)}"
        )
    all_names = {name for params in declared.values() for name in params}
    for name in profile.parameters:
        if name not in all_names:
            raise GtvError(
                f"{profiles_path}: profile {profile.name!r} sets parameter {name!r}, which no notebook declares; "
                f"declared parameters are {sorted(all_names)}"
            )
    for stem, values in profile.notebooks.items():
        for name in values:
            if name not in declared[stem]:
                raise GtvError(
                    f"{profiles_path}: profile {profile.name!r} sets {stem}.{name}, which {stem} does not declare; "
                    f"it declares {sorted(declared[stem])}"
                )
    selected_names = {name for stem in selected for name in declared[stem]}
    for name, _ in cli:
        if name not in selected_names:
            raise GtvError(
                f"command line: parameter {name!r} is declared by none of the selected notebooks "
                f"{selected}; they declare {sorted(selected_names)}"
            )

    resolved: dict[str, dict] = {}
    for stem in selected:
        params = declared[stem]
        values: dict = {}
        if "profile" in params:
            values["profile"] = profile.name
        for name, value in profile.parameters.items():
            if name in params:
                where = f"{profiles_path}: {profile.name}.parameters.{name}"
                values[name] = check_value(name, value, params[name]["inferred_type_name"], where)
        for name, value in profile.notebooks.get(stem, {}).items():
            where = f"{profiles_path}: {profile.name}.notebooks.{stem}.{name}"
            values[name] = check_value(name, value, params[name]["inferred_type_name"], where)
        for name, text in cli:
            if name in params:
                values[name] = parse_cli_value(name, text, params[name]["inferred_type_name"])
        for name, value in values.items():
            where = f"{stem}: parameter {name}"
            check_range(name, value, params[name].get("help", ""), where)
        resolved[stem] = values
    return resolved


# The end of a parameter's help comment may state what it allows: "; 1 to 1000" (numbers, inclusive) or
# "; one of gan, supervised" (words). The runner refuses anything else before the first notebook starts.
_RANGE = re.compile(r";\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s+to\s+(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")
_CHOICES = re.compile(r";\s*one of\s+([\w.-]+(?:\s*,\s*[\w.-]+)*)\s*$")


def declared_range(help_text: str):
    """("range", low, high), ("choices", [words]) or None, from the end of a parameter's help comment."""
    if match := _RANGE.search(help_text):
        return "range", float(match.group(1)), float(match.group(2))
    if match := _CHOICES.search(help_text):
        return "choices", [word.strip() for word in match.group(1).split(",")]
    return None


def check_range(name: str, value, help_text: str, where: str) -> None:
    """A :class:`GtvError` when ``value`` lies outside what the parameter's help comment allows."""
    allowed = declared_range(help_text)
    if allowed is None or value is None:
        return
    if allowed[0] == "range" and not (allowed[1] <= value <= allowed[2]):
        raise GtvError(f"{where} = {value!r} is outside its range {allowed[1]:g} to {allowed[2]:g}")
    if allowed[0] == "choices" and value not in allowed[1]:
        raise GtvError(f"{where} = {value!r}; expected one of {allowed[1]}")
