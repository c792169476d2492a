from __future__ import annotations

from collections.abc import Iterator

import pytest

from lms_bridge.i18n import use_locale


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    # The assertions read the English msgids; the product's default language is Kazakh.
    with use_locale("en"):
        yield
