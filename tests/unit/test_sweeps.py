"""Sweeps: grids, settings from the profiles, skip of finished runs, resume after a kill, the command line."""

from pathlib import Path

import pandas as pd
import pytest

from gtvlib import sweeps
from gtvlib.book.__main__ import main as book_main
from gtvlib.chapters import ch04_ablations as ablations
from gtvlib.data import slices
from gtvlib.util.errors import GtvError

TRAIN, VAL = ["SYNTH-001", "SYNTH-002"], ["SYNTH-003"]
CROP = slices.Box(16, 16, 112, 112)


@pytest.fixture(autouse=True)
def batch_mode(monkeypatch):
    monkeypatch.setenv("GTVLIB_BATCH", "1")


@pytest.fixture(scope="module")
def data_for(small_cohort, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    prepared = {crop: slices.prepared_from_parts(small_cohort, TRAIN, VAL, crop=CROP if crop == "mfit" else None, size=64,
                                                 cache_dir=cache) for crop in ("mfit", "none")}
    return prepared.__getitem__


def _settings(epochs=2, seeds=(0, 1)):
    return sweeps.SweepSettings({"model": "sam_med2d_tiny", "epochs": epochs, "train_encoder": "all", "box_jitter_px": 1,
                                 "schedule": "warmup_cosine", "keep_checkpoints": 1}, {}, seeds)


def test_grids_name_the_papers_configurations():
    assert [p.label.split(" (")[0] for p in sweeps.grid("ablation")] == ["SAM-Med2D", "+GTV-MFIT", "+GAN", "+GAN+GTV-MFIT"]
    assert [p.crop for p in sweeps.grid("ablation")] == ["none", "mfit", "none", "mfit"]
    weights = [p.overrides["weights"] for p in sweeps.grid("loss_weights")]
    assert [(w["focal"], w["dice"], w["iou"], w["mean"]) for w in weights] == [
        (10, 1, 1, 1), (20, 0.5, 0.5, 1), (20, 1, 1, 0.1), (20, 1, 1, 1)]
    from gtvlib.models import model_spec

    assert all(model_spec(p.overrides["model"]).family == "baselines" for p in sweeps.grid("baselines"))
    with pytest.raises(GtvError, match="sweep 'nope' is unknown"):
        sweeps.grid("nope")
    with pytest.raises(GtvError, match="no configuration \\['x'\\]"):
        sweeps.grid("ablation", ["x"])


def test_profile_settings_are_the_chapters(root):
    quick = sweeps.sweep_settings("quick", root)
    assert quick.training["model"] == "sam_med2d_tiny" and quick.training["objective"] == "adversarial"
    assert quick.data["preset"] == "graded" and quick.data["validation_fraction"] == 0.2 and len(quick.seeds) >= 3
    paper = sweeps.sweep_settings("paper", root)
    assert paper.training["model"] == "sam_med2d_vit_b" and paper.training["epochs"] == 100
    assert paper.training["schedule"] == "constant" and paper.training["train_encoder"] == "adapters"
    with pytest.raises(GtvError, match="profile 'fast' is not in"):
        sweeps.sweep_settings("fast", root)


def test_sweep_defaults_are_the_chapters_parameter_cells(root):
    """The library reads no notebook: the sweeps' defaults are typed once in gtvlib.sweeps, and this test holds them
    equal to the GTV-SAMGAN chapter's parameters cell."""
    import ast

    from gtvlib.book.profiles import declared_parameters

    def defaults(stem):
        return {name: ast.literal_eval(info["default"])
                for name, info in declared_parameters(root / "notebooks" / f"{stem}.ipynb").items()}

    chapter = defaults(sweeps.CHAPTER)
    assert {name: chapter[name] for name in sweeps.CHAPTER_DEFAULTS} == sweeps.CHAPTER_DEFAULTS
    assert set(sweeps.CHAPTER_PARAMETERS) == set(sweeps.CHAPTER_DEFAULTS)


def test_sweep_trains_then_skips_finished_runs(data_for, tmp_path):
    runs, summary = sweeps.run_sweep("ablation", _settings(epochs=1), data_for, tmp_path, only=["mfit", "gan_mfit"],
                                     show_progress=False)
    assert list(runs.status) == ["trained"] * 4 and list(runs.seed) == [0, 1, 0, 1]
    assert all(Path(r).parent == tmp_path / "ablation" / c for r, c in zip(runs.run, runs.config))
    assert list(summary.config) == ["mfit", "gan_mfit"] and list(summary.seeds) == [2, 2]
    assert summary.slice_dice_mean.iloc[0] == pytest.approx(runs.slice_dice.iloc[:2].mean())
    saved = pd.read_csv(tmp_path / "ablation" / "summary.csv")
    assert saved.slice_dice_sd.iloc[1] == pytest.approx(runs.slice_dice.iloc[2:].std(ddof=1))
    again, _ = sweeps.run_sweep("ablation", _settings(epochs=1), data_for, tmp_path, only=["mfit", "gan_mfit"],
                                show_progress=False)
    assert list(again.status) == ["reused"] * 4
    # the paper's loss weights in the loss grid are the ablation's GTV-SAMGAN runs: not trained twice
    shared, _ = sweeps.run_sweep("loss_weights", _settings(epochs=1), data_for, tmp_path, only=["fl20_d1_i1_m1"],
                                 show_progress=False)
    assert list(shared.status) == ["reused"] * 2 and list(shared.run) == list(runs.run.iloc[2:])
    # seeds replicate: different seeds, different results
    assert runs.slice_dice.iloc[2] != runs.slice_dice.iloc[3]


_KILLED_SWEEP = """
import sys
import torch
torch.set_num_threads(int(sys.argv[4]))  # the test process's threads: the same float reductions in both halves
from gtvlib import sweeps
from gtvlib.data import slices
from tests.unit.test_sweeps import _settings, TRAIN, VAL, CROP
data = slices.prepared_from_parts(sys.argv[1], TRAIN, VAL, crop=CROP, size=64, cache_dir=sys.argv[2])
sweeps.run_sweep("ablation", _settings(epochs=3, seeds=(0,)), lambda crop: data, sys.argv[3], only=["gan_mfit"],
                 show_progress=False)
"""


def test_command_line_refuses_unknown_sweeps_and_configurations(capsys, root):
    assert book_main(["--root", str(root), "sweep", "nope"]) == 2
    assert "sweep 'nope' is unknown" in capsys.readouterr().err
    assert book_main(["--root", str(root), "sweep", "ablation", "--only", "bogus"]) == 2
    assert "no configuration ['bogus']" in capsys.readouterr().err


def test_ablation_contrasts_are_paired_per_patient_beside_the_papers_rows():
    import numpy as np

    from gtvlib import stats

    rng = np.random.default_rng(0)
    patients = [f"P{i}" for i in range(12)]
    base = rng.uniform(0.5, 0.8, 12)
    arms = {"gan_zoom": base + 0.05, "supervised_zoom": base, "supervised_mfit": base + rng.normal(0, 0.02, 12),
            "supervised_whole": base}
    scores = pd.DataFrame([{"patient": p, "method": arm, "dice": d} for arm, values in arms.items()
                           for p, d in zip(patients, values)])
    table = ablations.contrast_table(scores)
    gan = table.loc["GAN (adversarial − supervised)"]
    assert gan["mean difference"] == pytest.approx(0.05) and gan.wins == 12 and gan.n == 12
    assert gan["paper: difference of slice Dice"] == pytest.approx((83.74 - 81.40) / 100)
    mfit = table.loc["GTV-MFIT (crop − whole image)"]
    expected = stats.paired_against(scores, "supervised_mfit", ["supervised_whole"]).iloc[0]
    assert mfit["P (Wilcoxon)"] == pytest.approx(expected["P (Wilcoxon)"])
    assert mfit["paper: difference of slice Dice"] == pytest.approx((81.40 - 76.05) / 100)
    assert list(ablations.published_tables()["Table 3 (ablation)"].index) == list(ablations.TABLE3)


def test_prompt_free_baselines_train_at_the_papers_batch():
    assert sweeps.grid("baselines")[0].overrides["batch_size"] == 4  # prompt-free networks: the paper's batch
