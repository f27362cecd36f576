"""Deploy the ledger (SettlementToken + CreditLedger) to a named brownie network.

    brownie run scripts/deploy.py --network scf-test                # a throwaway anvil
    brownie run scripts/deploy.py --network consortium              # an external node, after:
    brownie networks add Consortium consortium host=<RPC URL> chainid=<chain id>

Idempotent: the manifest (default deployments/<network>.json, or $SCF_MANIFEST) is reused
when the chain still holds exactly that code, so running it twice deploys once. Resumable:
until the manifest is written, each step is recorded beside it
(deployments/<network>.partial.json), so a run that fails part-way is finished by running
the script again, which reuses the contracts that landed instead of deploying a second
token. The operator signs locally with the key in $SCF_OPERATOR_PRIVATE_KEY; on a
development network without one, anvil's first funded account is used. The operator
becomes the ledger's operator and the settlement token's minter.
"""

from __future__ import annotations

import os
from pathlib import Path

from brownie import network, web3
from eth_account import Account

from chain_client import TransactionSender, connect
from chain_client.deployment import deploy_ledger
from chain_client.errors import ChainClientError, ManifestError
from chain_client.manifest import partial_manifest_path
from chain_client.node import dev_accounts


def _operator_account():
    key = os.environ.get("SCF_OPERATOR_PRIVATE_KEY")
    if key:
        return Account.from_key(key)
    if network.show_active() in ("development", "scf-test", "anvil") or web3.eth.chain_id == 31337:
        return dev_accounts(1)[0]
    raise SystemExit(
        f"set SCF_OPERATOR_PRIVATE_KEY to the operator's key to deploy on {network.show_active()}"
    )


def main() -> None:
    name = network.show_active()
    manifest_path = Path(os.environ.get("SCF_MANIFEST", f"deployments/{name}.json"))
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    grace_days = int(os.environ.get("SCF_GRACE_PERIOD_DAYS", "3"))
    w3 = connect(web3.provider.endpoint_uri)
    operator = TransactionSender(w3, _operator_account())
    try:
        manifest = deploy_ledger(
            w3, operator, manifest_path=manifest_path, grace_period=grace_days * 86_400
        )
    except ChainClientError as exc:
        partial = partial_manifest_path(manifest_path)
        if not partial.exists() or isinstance(exc, ManifestError):
            raise  # nothing to finish, or the message says what to do with it
        raise SystemExit(
            f"the deployment is not finished: {exc}\n{partial} records what it did so far; "
            "run this script again to finish it"
        ) from exc
    print(f"network       {name} (chain id {manifest.chain_id})")
    print(f"CreditLedger  {manifest.ledger_address}")
    print(f"Settlement    {manifest.token_address}")
    print(f"operator      {operator.address}")
    print(f"manifest      {manifest_path}")
