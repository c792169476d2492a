"""The sample session (YAML and workbook) has a valid appeal commission, so the demo shows appeals:
an odd number of voters, nobody from the attestation commission, Kazakh names, e-mails on the
sample's staff domain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lms_bridge.domain.session import Role
from lms_bridge.sessionfile import read_session_file

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["sample-session.yaml", "sample-session.xlsx"])
def test_the_sample_has_a_valid_appeal_commission(name: str) -> None:
    spec, problems = read_session_file(REPO / "config" / name)
    assert spec is not None, problems
    appeal = spec.appeal_commission
    voters = [m for m in appeal if m.role.votes]
    assert len(voters) % 2 == 1
    assert len(voters) >= 3
    assert [m.role for m in appeal].count(Role.CHAIR) == 1
    assert [m.role for m in appeal].count(Role.SECRETARY) == 1
    assert not {m.email for m in appeal} & {m.email for m in spec.commission}
    assert not {m.email for m in appeal} & set(spec.administrative_staff)
    domain = {m.email.rsplit("@", 1)[1] for m in spec.commission}
    assert len(domain) == 1
    for m in appeal:
        assert m.email.rsplit("@", 1)[1] in domain
        # Kazakh names: Cyrillic, with a patronymic ending in -ұлы/-қызы.
        assert re.fullmatch(r"[А-ЯЁӘҒҚҢӨҰҮҺІа-яёәғқңөұүһі-]+( [А-ЯЁӘҒҚҢӨҰҮҺІа-яёәғқңөұүһі-]+){2}", m.name), m.name
        assert m.name.endswith(("ұлы", "қызы")), m.name

