"""The settlement token: fen, minting by the minter only."""

import brownie


def test_decimals_are_fen(token):
    assert token.decimals() == 2


def test_only_minter_mints(token, operator, tier1):
    token.mint(tier1, 500, {"from": operator})
    assert token.balanceOf(tier1) == 500
    with brownie.reverts(revert_pattern=r"AccessControlUnauthorizedAccount: .*"):
        token.mint(tier1, 500, {"from": tier1})


def test_ledger_constructor_refuses_zero_addresses(CreditLedger, token, operator):
    zero = "0x0000000000000000000000000000000000000000"
    with brownie.reverts():
        CreditLedger.deploy(zero, token, 0, {"from": operator})
    with brownie.reverts():
        CreditLedger.deploy(operator, zero, 0, {"from": operator})
