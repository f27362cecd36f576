// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title SettlementToken
/// @notice The cash leg of the ledger: an ERC-20 stand-in for tokenized bank deposits or
/// e-CNY. One unit is one fen (0.01 CNY), hence two decimals, so that the ledger's money
/// rule (integers in minor units) holds on both legs of every trade.
/// @dev Only accounts with MINTER_ROLE (the bank or platform that tokenizes deposits) create
/// money; anyone may burn their own balance (redeem to a bank account off chain).
contract SettlementToken is ERC20, ERC20Burnable, AccessControl {
    /// @notice Who may create money: the bank or platform that tokenizes deposits.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice Deploys the token with no money in it: `admin` mints.
    /// @param admin receives DEFAULT_ADMIN_ROLE and MINTER_ROLE.
    constructor(string memory name_, string memory symbol_, address admin) ERC20(name_, symbol_) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Amounts are fen: 100 units are one yuan.
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    /// @notice Creates `amount` fen for `to`, as when a deposit is tokenized.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
