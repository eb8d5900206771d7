"""The switch-back's pin as the program reads it (deployctl/core/health/pins.py)."""

from __future__ import annotations

import json

import pytest

from deployctl.core.health.pins import PIN_VAR, pins_for

C0 = "0" * 40


def test_pins_are_one_explicit_input_per_env():
    value = json.dumps({"staging": {"api": C0, "web": None}})
    assert pins_for("staging", {PIN_VAR: value}) == {"api": C0, "web": None}
    assert pins_for("production", {PIN_VAR: value}) == {}
    assert pins_for("staging", {}) == {}
    with pytest.raises(ValueError, match=PIN_VAR):
        pins_for("staging", {PIN_VAR: '{"staging": ["api"]}'})


@pytest.mark.parametrize("raw", ["not json", '["staging"]', '{"staging": {"api": 1}}', '{"staging": "api"}'])
def test_a_malformed_pin_is_refused_with_its_shape(raw: str):
    with pytest.raises(ValueError, match="JSON object"):
        pins_for("staging", {PIN_VAR: raw})
