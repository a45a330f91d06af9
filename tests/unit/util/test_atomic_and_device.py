import json

import pytest

from gtvlib.util.atomic import atomic_path, write_json_atomic, write_text_atomic
from gtvlib.util.device import device_description, pick_device


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "cache.json"
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["cache.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_pick_device_and_description():
    import torch

    assert pick_device("cpu") == torch.device("cpu")
    auto = pick_device()
    assert auto.type in {"cpu", "cuda", "mps"}
    assert device_description(torch.device("cpu")).startswith("CPU: ")


def test_connected_components_against_scipy_and_by_hand():
    """One home for connected components: the largest (ties by first voxel), and those that hold a seed."""
    import numpy as np
    from scipy import ndimage

    from gtvlib.util.components import components_at, largest_components
    from gtvlib.util.errors import GtvError

    mask = np.zeros((5, 9), bool)
    mask[0, 0:3] = True            # 3 pixels
    mask[2, 5:9] = True            # 4 pixels
    mask[3, 4] = True              # touches the 4-pixel run by a corner only
    mask[4, 0:3] = True            # 3 pixels, after the first run of 3
    assert largest_components(mask, 1, "full").sum() == 5          # the corner joins it (8-connected)
    assert largest_components(mask, 1, "faces").sum() == 4         # not across a corner
    second = largest_components(mask, 2, "faces")
    assert second[0, 0:3].all() and not second[4].any()            # equal sizes: the first in array order
    assert largest_components(mask, 9).sum() == mask.sum() and not largest_components(np.zeros((3, 3), bool)).any()
    rng = np.random.default_rng(0)
    volume = rng.random((12, 12, 12)) > 0.7
    labels, count = ndimage.label(volume, np.ones((3, 3, 3), bool))
    sizes = np.bincount(labels.ravel())[1:]
    assert np.array_equal(largest_components(volume, 1, "full"), labels == np.argmax(sizes) + 1)
    seed = tuple(np.argwhere(labels == 1)[0])
    assert np.array_equal(components_at(volume, seed), labels == 1)
    assert not components_at(volume, tuple(np.argwhere(~volume)[0])).any()   # a seed outside the mask: nothing
    seeds = (labels == 1) | (labels == 2)
    assert np.array_equal(components_at(volume, seeds), seeds)
    with pytest.raises(GtvError, match="connectivity 'edges'"):
        largest_components(mask, 1, "edges")
    with pytest.raises(GtvError, match="seed voxel"):
        components_at(volume, (12, 0, 0))
