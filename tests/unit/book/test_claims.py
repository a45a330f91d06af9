"""A chapter's headline numbers and claims: recorded for the runner, re-checked from the numbers, clear errors."""

import json
import math

import pytest

from gtvlib import GtvError
from gtvlib.book import claims


@pytest.fixture()
def stated(tmp_path, monkeypatch):
    target = tmp_path / "claims.json"
    monkeypatch.setenv(claims.ENV, str(target))
    claims.reset()
    yield target
    monkeypatch.delenv(claims.ENV)
    claims.reset()


def test_headline_and_claims_are_written_for_the_runner(stated, capsys):
    claims.headline("model", slice_dice=0.93, patient_dice=0.91)
    assert claims.claim("the model beats the ellipse", ("model slice Dice", 0.93), ">", ("ellipse slice Dice", 0.913))
    assert not claims.claim("the model beats the threshold", ("model slice Dice", 0.93), ">", ("Otsu slice Dice", 0.95))
    assert claims.claim("the true HR lies in the interval", ("true HR", 1.635), "within", ("95 % CI", (1.1, 2.4)))
    printed = capsys.readouterr().out
    assert "headline" not in printed and "slice_dice" not in printed  # recorded, not printed
    assert "checked in this run: the model beats the ellipse (model slice Dice 0.93 > ellipse slice Dice 0.913)" in printed
    assert "DOES NOT HOLD in this run: the model beats the threshold" in printed
    written = json.loads(stated.read_text())
    assert written["headline"] == [{"kind": "model", "numbers": {"slice_dice": 0.93, "patient_dice": 0.91}}]
    assert [c["holds"] for c in written["claims"]] == [True, False, True]
    (failure,) = claims.failed_claims("03_train_gtv_samgan", written)
    assert failure == ("chapter 03_train_gtv_samgan: claim 'the model beats the threshold' does not hold in this run: "
                       "model slice Dice 0.93 > Otsu slice Dice 0.95 is false")


def test_the_check_reevaluates_the_numbers_not_the_kernels_flag(stated):
    claims.claim("A is above B", ("A", 2.0), ">", ("B", 1.0))
    written = json.loads(stated.read_text())
    assert claims.failed_claims("x", written) == []
    written["claims"][0]["right"][1] = 3.0  # a reference edited so that the model no longer beats it
    assert claims.failed_claims("x", written) == [
        "chapter x: claim 'A is above B' does not hold in this run: A 2 > B 3 is false"]


@pytest.mark.parametrize("left, relation, right, expected", [
    (1.0, ">", 1.0, False), (1.0, ">=", 1.0, True), (0.5, "<", 1.0, True), (1.0, "<=", 0.5, False),
    (math.nan, "<", 1.0, False), (1.0, ">", math.nan, False), (0.2, "within", (0.2, 0.3), True),
    (0.31, "within", (0.2, 0.3), False), (0.25, "within", (math.nan, 0.3), False),
])
def test_relations(left, relation, right, expected):
    assert claims.holds(left, relation, right) is expected


def test_bad_claims_name_the_value():
    with pytest.raises(GtvError, match="claim relation '=~': unknown; expected one of"):
        claims.holds(1.0, "=~", 2.0)
    with pytest.raises(GtvError, match="claim number 'model Dice': 'high' is not a number"):
        claims.claim("t", ("model Dice", "high"), ">", 0.5)
    with pytest.raises(GtvError, match=r"headline\('model'\): no numbers given"):
        claims.headline("model")


def test_nothing_is_written_outside_the_runner(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(claims.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    claims.reset()
    claims.claim("A is above B", ("A", 2.0), ">", 1.0)
    assert "checked in this run: A is above B (A 2 > 1)" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    claims.reset()
