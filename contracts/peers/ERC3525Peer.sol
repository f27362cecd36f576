// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC3525BaseMock} from "@solvprotocol/erc-3525/mocks/ERC3525BaseMock.sol";

/// @title ERC3525Peer
/// @notice The ERC-3525 reference implementation, unchanged, deployed only as a gas peer for
/// scripts/benchmark_gas.py (split to a new holder, whole-token transfer).
contract ERC3525Peer is ERC3525BaseMock {
    constructor() ERC3525BaseMock("ERC3525 reference", "REF", 2) {}
}
