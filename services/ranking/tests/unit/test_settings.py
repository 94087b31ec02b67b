"""The ranking's settings: APP_ZONE must be a zone the calendar can use."""

from typing import Any

import pytest
from pydantic import ValidationError

from ranking_service.settings import RankingSettings


def given(**variables: Any) -> RankingSettings:
    """The settings given these variables by their names, parsed as the environment is (Any: the
    pydantic plugin's __init__ takes field names and parsed values)."""
    return RankingSettings(**variables)


def test_the_zone_defaults_to_seoul(monkeypatch):
    monkeypatch.delenv("APP_ZONE", raising=False)
    assert RankingSettings().zone.key == "Asia/Seoul"


def test_another_known_zone_is_taken():
    assert given(APP_ZONE="Europe/Paris").zone.key == "Europe/Paris"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_an_unknown_zone_is_refused_at_start(zone):
    with pytest.raises(ValidationError, match="APP_ZONE"):
        given(APP_ZONE=zone)


def test_the_rebuild_covers_at_least_the_largest_window():
    with pytest.raises(ValidationError):
        given(RANKING_REBUILD_DAYS=29)
