"""The certificate status filter of GET /v1/certificates lists the ledger's statuses by
hand (a Literal cannot be built from an enum for mypy and the OpenAPI document): this keeps
the two one vocabulary."""

from typing import get_args

from api.routes.certificates import Status
from chain_client.ledger_types import CertificateStatus


def test_the_status_filter_names_every_ledger_status_and_nothing_else() -> None:
    ledger = [s.label for s in CertificateStatus if s is not CertificateStatus.NONE]
    assert list(get_args(Status)) == ledger
