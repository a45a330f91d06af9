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
