"""rule-engine settings from the environment."""

import pytest
from helpdesk_rule_engine.config import Settings
from pydantic import ValidationError


def test_fetch_max_wait_defaults_to_50_ms_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RULE_ENGINE_KAFKA_FETCH_MAX_WAIT_MS", raising=False)
    assert Settings().kafka_fetch_max_wait_ms == 50
    monkeypatch.setenv("RULE_ENGINE_KAFKA_FETCH_MAX_WAIT_MS", "120")
    assert Settings().kafka_fetch_max_wait_ms == 120


@pytest.mark.parametrize("value", ["0", "10001", "soon"])
def test_a_fetch_max_wait_out_of_range_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("RULE_ENGINE_KAFKA_FETCH_MAX_WAIT_MS", value)
    with pytest.raises(ValidationError, match="kafka_fetch_max_wait_ms"):
        Settings()
