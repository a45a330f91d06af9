import numpy as np
import pytest

from gtvlib import GtvError
from gtvlib.data.windows import WINDOW_PRESETS_HU, window_hu, window_preset


def test_window_maps_edges_centre_and_clips():
    hu = np.array([-2000, -1350, -600, 150, 3000], dtype=np.float32)
    out = window_hu(hu, center=-600, width=1500)
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert out.dtype == np.float32


def test_window_is_linear_inside():
    hu = np.linspace(-160, 240, 9)
    np.testing.assert_allclose(window_hu(hu, 40, 400), np.linspace(0, 1, 9), atol=1e-6)


def test_presets_and_errors():
    assert window_preset("hcf_paper").lower == -800 and window_preset("hcf_paper").upper == 400
    assert set(WINDOW_PRESETS_HU) >= {"lung", "mediastinal"}
    with pytest.raises(GtvError, match="unknown.*lung"):
        window_preset("brain")
    with pytest.raises(GtvError, match="width"):
        window_hu(np.zeros(3), 0, 0)
