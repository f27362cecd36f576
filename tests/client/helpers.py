"""Helpers of the chain_client tests: senders for anvil's funded dev accounts, and a
LedgerWorld (the ledger deployed through chain_client.deployment, one member per role).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chain_client.connection import connect
from chain_client.node import AnvilNode
from chain_client.transactions import TransactionSender
from tests.helpers import travel, valid_uscc

DAY = 86_400


def make_sender(w3: Any, account: Any, **kwargs: Any) -> TransactionSender:
    """A sender that polls often and gives up within the test's patience."""
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return TransactionSender(w3, account, **kwargs)


class LedgerWorld:
    """A deployed ledger with one member per role, ready for a certificate's lifecycle."""

    def __init__(self, node: AnvilNode, manifest_path: Path) -> None:
        from chain_client.deployment import deploy_ledger
        from chain_client.ledger import Ledger
        from chain_client.ledger_types import Role

        self.node = node
        self.w3 = connect(node.rpc_url)
        accounts = node.dev_accounts(8)
        self.senders = [make_sender(self.w3, a) for a in accounts]
        self.manifest_path = manifest_path
        self.manifest = deploy_ledger(self.w3, self.senders[0], manifest_path=manifest_path)
        self.operator = Ledger(self.w3, self.manifest, self.senders[0])
        self.core, self.supplier, self.supplier2, self.supplier3, self.bank = (
            self.operator.as_member(s) for s in self.senders[1:6]
        )
        self.outsider = self.operator.as_member(self.senders[6])
        roles = [
            (self.core, Role.CORE_ENTERPRISE),
            (self.supplier, Role.SUPPLIER),
            (self.supplier2, Role.SUPPLIER),
            (self.supplier3, Role.SUPPLIER),
            (self.bank, Role.FINANCIER),
        ]
        for index, (member, role) in enumerate(roles):
            self.operator.register_member(member.account, _org(index), role)
        self.bank.set_credit_line(self.core.account, 10**12)
        self.operator.mint_settlement(self.bank.account, 10**11)
        self.operator.mint_settlement(self.core.account, 10**11)
        self._invoices = 0

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def issue(self, face_value: int = 1_000_000, tenor_days: int = 90) -> tuple[int, int]:
        """Issue and accept a certificate; returns (certificate id, root fragment id)."""
        from eth_utils import keccak

        self._invoices += 1
        cid = self.core.issue(
            self.bank.account,
            self.supplier.account,
            face_value,
            self.now() + tenor_days * DAY,
            keccak(text=f"invoice-{self._invoices}-{id(self)}"),
            keccak(text=f"document-{self._invoices}"),
        ).value
        assert cid is not None
        root = self.supplier.accept(cid).value
        assert root is not None
        return cid, root

    def travel(self, seconds: int) -> None:
        travel(self.node, seconds)


def _org(index: int) -> bytes:
    from chain_client.identity import org_id_hash

    return org_id_hash(valid_uscc(index, prefix="913501007"))
