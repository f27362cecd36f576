"""Role commands over the API (issue, accept, split, ...), added to `scf` by register().

Usage (every command also takes --api-url/SCF_API_URL, --key/SCF_API_KEY or --as NAME
with --keys-file/SCF_KEYS_FILE, and --json):

  scf status
  scf orgs [--role ROLE]
  scf certificates [--status STATUS]
  scf fragments [--certificate ID] [--holder ORG]
  scf offers [--status open|accepted|withdrawn]
  scf issue BENEFICIARY AMOUNT (--days N | --maturity DATE) [--bank ORG] [--invoice FILE]
            [--invoice-number NO [--invoice-code CODE]] [--seller-tax-id USCC]
  scf accept|reject|revoke CERTIFICATE
  scf split FRAGMENT TO AMOUNT
  scf transfer FRAGMENT TO
  scf finance offer FRAGMENT BANK AMOUNT --rate 3.65% [--expires-in-days N | --expires DATE]
  scf finance accept OFFER          (the bank's side)
  scf finance withdraw OFFER
  scf finance sell FRAGMENT AMOUNT [--bid BID] [--max-rate R] [--payee ORG]   (to a standing bid)
  scf quotes FRAGMENT [AMOUNT] [--max-rate R]      (every standing bid's price, best first)
  scf bid post --band DAYS:RATE [--band ...] --budget AMOUNT [--issuer ORG ...] [--min-days N]
               [--min-amount A] [--max-amount A] [--per-seller-limit A] [--expires-in-days N]
  scf bid list [--mine] [--status open|cancelled] | bid show BID
  scf bid budget BID AMOUNT | bid cancel BID
  scf quote OFFER | scf quote --fragment F --amount A --rate R
  scf repay CERTIFICATE [AMOUNT] [--early] [--wait [--timeout S]]
  scf claim [FRAGMENT ...]
  scf verify FRAGMENT               (exit 4 if a check failed)
  scf sign PREPARED.json | --command ID [--sign-with KEY] [--submit]   (self-custody)
  scf report exposure|financed-volume|maturing|overdue [--within-days N]
  scf keys create [--duties maker,checker,admin | --viewer] [--label L] | keys list | keys revoke ID
  scf policy show | scf policy set 'split>=500000.00' accept_offer ... | --none
  scf approvals list | approve COMMAND [--sign-with KEY] | reject COMMAND --reason TEXT

The ledger commands also take --sign-with KEY (SCF_SIGNING_KEY), --keystore DIR,
--passphrase-file FILE and --yes: for an organization that keeps its own key, what the API
prepares is shown, confirmed, signed with that key and submitted in the same call.

Amounts are yuan as people write them (1,000,000.00; at most two decimals; ASCII digits
only), sent to the API as whole fen. Fragments are given by id or as certificate/seq
(e.g. 1/0 for the root). Organizations by name or id.
"""

from __future__ import annotations

import typer

from api.cli import (
    commands_approvals,
    commands_bids,  # also adds `finance sell` to commands_ledger.finance_app
    commands_ledger,
    commands_sign,
    commands_views,
)


def register(app: typer.Typer) -> None:
    """Adds the role commands to the `scf` app."""
    app.registered_commands.extend(commands_views.app.registered_commands)
    app.registered_commands.extend(commands_ledger.app.registered_commands)
    app.registered_commands.extend(commands_sign.app.registered_commands)
    app.registered_commands.extend(commands_bids.app.registered_commands)
    app.add_typer(commands_ledger.finance_app, name="finance")
    app.add_typer(commands_bids.bid_app, name="bid")
    app.add_typer(commands_approvals.keys_app, name="keys")
    app.add_typer(commands_approvals.policy_app, name="policy")
    app.add_typer(commands_approvals.approvals_app, name="approvals")
