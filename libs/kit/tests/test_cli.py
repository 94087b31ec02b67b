"""`serve` sets the garbage collector for a busy server (commerce_kit.cli.tune_gc)."""

import gc

from commerce_kit import cli


def test_serving_freezes_what_the_app_imported_and_collects_less_often():
    before = gc.get_threshold()
    try:
        cli.tune_gc("commerce_kit.web")
        assert gc.get_freeze_count() > 1000  # the frameworks' classes, schemas and modules
        young, middle, old = gc.get_threshold()
        assert young >= 10 * before[0] and middle >= before[1] and old >= before[2]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
