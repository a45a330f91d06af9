"""Integration tier of tests/unit/test_architecture.py: the shape of the house: no import cycles, package maps, one home per shared job, a new model family plugs in."""

import re
import sys
import types

import pytest
import torch


@pytest.mark.slow
def test_the_documented_family_example_works(monkeypatch, small_cohort, tmp_path, root):
    """book/library.md's "Adding a model family" code, executed as a family module, plugs into the registry
    and the evaluation unchanged."""
    from gtvlib import models
    from gtvlib.data import slices
    from gtvlib.evaluation.slices import evaluate

    page = (root / "book" / "library.md").read_text()
    section = page[page.index("## Adding a model family"):page.index("## Adding a chapter")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("gtvlib.models.unet")
    exec(compile(code, "book/library.md", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, "gtvlib.models.unet", module)
    monkeypatch.setattr(models, "FAMILIES", (*models.FAMILIES, "unet"))
    torch.manual_seed(0)
    model = models.build_model("unet_small")
    assert "unet_small: MONAI 2-D U-Net, input 64 px" in models.describe_model("unet_small", model)
    data = slices.prepared_from_parts(small_cohort, ["SYNTH-001"], ["SYNTH-003"], crop=slices.Box(16, 16, 112, 112),
                                      size=models.model_spec("unet_small").input_size, cache_dir=tmp_path)
    result = evaluate(model, data.cache, data.validation_ids, torch.device("cpu"), module.predict_plain, slices="all")
    assert len(result.per_slice) == data.cache.load("SYNTH-003")[0].shape[0] and len(result.per_patient) == 1
    assert set(result.summary) == {"slice_dice", "slice_sensitivity", "slice_specificity", "slice_jaccard",
                                   "slice_hd95_mm", "slice_hd95_undefined", "patient_dice",
                                   "patient_dice_median"}
    # the page's training example trains it through the one loop, recorded by route and objective
    training = page[page.index("## Training any family"):page.index("## Adding a chapter")]
    code = re.search(r"```python\n(.*?)```", training, re.S).group(1).replace('name="unet_small"', f'name="{tmp_path}/unet"')
    namespace = {"data": data}
    exec(compile(code, "book/library.md", "exec"), namespace)
    epochs = namespace["run"].epochs()
    assert epochs.epoch.tolist() == [1] and "val_slice_dice" in epochs.columns
    assert (namespace["run"].folder / "params.yaml").read_text().count("method: slices/supervised") == 1
