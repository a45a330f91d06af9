"""Run records: one folder per training run, which any chapter can read back.

::

    runs/<name>-<key>/
      params.yaml                everything that determines the run (configuration, data, patients)
      epochs.csv                 one row per epoch: training losses, validation summary, seconds
      per_patient.csv            one row per epoch and validation patient: 3-D scores
      checkpoints/epoch_XXX.pt   the model's (and optimisers') state after each epoch

The key hashes the settings that determine the run (not the number of epochs), so the same settings find
the same folder (and resume it, or reuse it when it is complete) and different settings never mix. Every
file is written atomically. Resuming restores the last checkpoint and drops table rows of later epochs,
so an interrupted run continues as if it had never stopped. Under ``torchrun`` only the writing rank
(rank 0) writes; every rank resumes.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import yaml

from gtvlib.util.atomic import atomic_path, remove_stale_partials, write_text_atomic
from gtvlib.util.checksums import settings_key
from gtvlib.util.errors import GtvError

TABLES = ("epochs.csv", "per_patient.csv")


def _write_rows(path: Path, rows: list[dict], fields) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(fields), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _load_part(module, state: dict, part: str, path: Path) -> None:
    """Load ``state[part]`` (a checkpoint's contents) into ``module``, or a :class:`GtvError` naming ``path``."""
    if part not in state:
        raise GtvError(f"{path}: the checkpoint holds {sorted(k for k in state if k not in ('epoch', 'config'))}, "
                       f"not {part!r}; expected a checkpoint of this kind of run")
    try:
        module.load_state_dict(state[part])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise GtvError(f"{path}: {part!r} does not fit this run's {part} "
                       f"({str(exc).splitlines()[0][:160]}); expected a checkpoint of the same settings") from None


class RunRecord:
    """The folder of one run. ``writer``: whether this process writes (False on the other DDP ranks)."""

    def __init__(self, folder: str | os.PathLike, writer: bool = True):
        self.folder = Path(folder)
        self.writer = writer
        self.config: dict = {}

    @classmethod
    def named(cls, name: str, settings: dict, root: str | os.PathLike | None = None, writer: bool = True) -> "RunRecord":
        """``<root>/<name>-<key>`` (root: ``$GTVLIB_RUNS``), the key hashing ``settings``."""
        from gtvlib.util.paths import runs_dir

        return cls(Path(root or runs_dir()) / f"{name}-{settings_key(settings, length=10)}", writer)

    @property
    def name(self) -> str:
        return self.folder.name

    def start(self, config: dict, **facts) -> None:
        """Write ``params.yaml``: ``config`` (kept for the checkpoints) and any other facts of the run.

        A folder that already records a run of another ``method`` (route and objective) is refused: resuming it
        would mix two methods in one record."""
        self.config = dict(config)
        previous = self.folder / "params.yaml"
        if previous.is_file() and "method" in facts:
            recorded = (yaml.safe_load(previous.read_text()) or {}).get("method")
            if recorded is not None and recorded != facts["method"]:
                raise GtvError(f"{self.folder}: this run was trained by {recorded!r}; continuing it by "
                               f"{facts['method']!r} would mix two methods (use another run folder)")
        if self.writer:
            self.folder.mkdir(parents=True, exist_ok=True)
            for folder in (self.folder, self.folder / "checkpoints"):
                remove_stale_partials(folder)  # a run killed while writing left its temporary files
            write_text_atomic(self.folder / "params.yaml", yaml.safe_dump({"config": self.config, **facts}, sort_keys=False))

    def params(self) -> dict:
        """``params.yaml`` as written by :meth:`start`."""
        path = self.folder / "params.yaml"
        if not path.is_file():
            raise GtvError(f"{path}: no run record here (expected a folder written by gtvlib.runs)")
        return yaml.safe_load(path.read_text())

    # ------------------------------------------------------------------ checkpoints

    def checkpoints(self) -> list[Path]:
        """The checkpoint files, oldest epoch first."""
        return sorted((self.folder / "checkpoints").glob("epoch_*.pt"))

    def checkpoint_path(self, epoch: int | None = None) -> Path:
        """The checkpoint of ``epoch`` (default: the last one)."""
        found = self.checkpoints()
        path = found[-1] if epoch is None and found else self.folder / "checkpoints" / f"epoch_{epoch or 0:03d}.pt"
        if not path.is_file():
            raise GtvError(f"{path}: no such checkpoint; the run has {[p.stem for p in found] or 'none'}")
        return path

    def save_checkpoint(self, epoch: int, modules: dict) -> None:
        """Save every module's (and optimiser's) state, the epoch and the configuration, atomically."""
        import torch

        if not self.writer:
            return
        state = {name: module.state_dict() for name, module in modules.items()}
        state.update(epoch=epoch, config=self.config)
        with atomic_path(self.folder / "checkpoints" / f"epoch_{epoch:03d}.pt") as tmp:
            torch.save(state, tmp)

    def prune_checkpoints(self, keep: int) -> None:
        """Delete all but the last ``keep`` checkpoints (0 keeps every one)."""
        if self.writer and keep > 0:
            for path in self.checkpoints()[:-keep]:
                path.unlink()

    def resume(self, modules: dict) -> int:
        """Restore the last checkpoint into ``modules``; return the next epoch (1 when the run is new)."""
        found = self.checkpoints()
        if not found:
            return 1
        state = self._load(found[-1])
        for name, module in modules.items():
            _load_part(module, state, name, found[-1])
        if self.writer:
            for table in TABLES:  # rows of epochs after the checkpoint belong to a run that was cut off
                rows = _read_rows(self.folder / table)
                if rows:
                    _write_rows(self.folder / table, [r for r in rows if int(r["epoch"]) <= state["epoch"]], rows[0].keys())
        return int(state["epoch"]) + 1

    def restore(self, module, epoch: int | None = None, part: str = "model"):
        """Load the state of ``part`` from the checkpoint of ``epoch`` (default: the last) into ``module``; a
        checkpoint without it, or whose tensors do not fit ``module``, is a :class:`GtvError` naming the file."""
        path = self.checkpoint_path(epoch)
        _load_part(module, self._load(path), part, path)
        return module

    @staticmethod
    def _load(path: Path) -> dict:
        """A checkpoint written by :meth:`save_checkpoint`, or a :class:`GtvError` naming the damaged file."""
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated zip, a foreign pickle: torch raises assorted types
            raise GtvError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
                           "delete it to resume from the epoch before") from None
        if not isinstance(state, dict) or "epoch" not in state:
            raise GtvError(f"{path}: not a checkpoint of a gtvlib run (no epoch recorded)")
        return state

    # ------------------------------------------------------------------ tables

    def append(self, table: str, rows: list[dict]) -> None:
        """Add rows to one of :data:`TABLES` (rewritten atomically; columns from the first row)."""
        if self.writer and rows:
            _write_rows(self.folder / table, _read_rows(self.folder / table) + rows, rows[0].keys())

    def end_epoch(self, epoch: int, stats: dict, evaluation, seconds: float, modules: dict) -> dict:
        """Record one finished epoch: a row of ``epochs.csv`` (``stats``, the evaluation summary as ``val_*``,
        seconds), the per-patient rows, and the checkpoint. Returns the epoch row."""
        row = {"epoch": epoch, **{k: round(v, 6) for k, v in stats.items()},
               **{f"val_{k}": round(v, 6) for k, v in evaluation.summary.items()}, "seconds": round(seconds, 2)}
        self.append("epochs.csv", [row])
        self.append("per_patient.csv", [{"epoch": epoch, **p} for p in evaluation.per_patient])
        self.save_checkpoint(epoch, modules)
        return row

    def epochs(self):
        """``epochs.csv`` as a DataFrame."""
        import pandas as pd

        return pd.read_csv(self.folder / "epochs.csv")

    def per_patient(self, epoch: int | None = None):
        """``per_patient.csv`` as a DataFrame, for one epoch (default: the last) without the epoch column.

        An empty flag means both masks were present (see :mod:`gtvlib.metrics`)."""
        import pandas as pd

        table = pd.read_csv(self.folder / "per_patient.csv").fillna({"flag": ""})
        epoch = int(table.epoch.max()) if epoch is None else epoch
        return table[table.epoch == epoch].drop(columns="epoch").reset_index(drop=True)
