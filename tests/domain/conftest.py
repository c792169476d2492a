from __future__ import annotations

from collections.abc import Iterator

import pytest

from lms_bridge.i18n import use_locale


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    # The assertions read the English msgids; with the catalogs filled, the default language
    # (Kazakh) would translate them.
    with use_locale("en"):
        yield
