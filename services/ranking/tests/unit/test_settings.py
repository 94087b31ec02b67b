"""The ranking's settings: APP_ZONE must be a zone the calendar can use."""

import pytest
from pydantic import ValidationError

from ranking_service.settings import RankingSettings


def test_the_zone_defaults_to_seoul(monkeypatch):
    monkeypatch.delenv("APP_ZONE", raising=False)
    assert RankingSettings().zone.key == "Asia/Seoul"


def test_another_known_zone_is_taken():
    assert RankingSettings(APP_ZONE="Europe/Paris").zone.key == "Europe/Paris"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_an_unknown_zone_is_refused_at_start(zone):
    with pytest.raises(ValidationError, match="APP_ZONE"):
        RankingSettings(APP_ZONE=zone)


def test_the_rebuild_covers_at_least_the_largest_window():
    with pytest.raises(ValidationError):
        RankingSettings(RANKING_REBUILD_DAYS=29)
