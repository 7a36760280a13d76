from __future__ import annotations

import pytest

from lastcall.testing.quic_certs import SelfSignedCertificate, make_self_signed


@pytest.fixture(scope="session")
def cert() -> SelfSignedCertificate:
    return make_self_signed()
