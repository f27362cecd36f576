// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title FragmentIds
/// @notice The one place a fragment id is built and taken apart: id = (certificateId << 32) | seq.
/// @dev Why this encoding: the certificate (the root of the provenance tree) is implied by
/// the id and costs no storage, and the fragments of one certificate are enumerable as
/// seq = 0 .. fragmentCount - 1 without an array. seq fits in 32 bits because a
/// certificate's fragmentCount is a uint32. The Python client mirrors it in
/// chain_client/ledger_types.py (fragment_id_of, certificate_id_of, seq_of).
library FragmentIds {
    /// @dev Width of the seq part: the low 32 bits of an id.
    uint256 internal constant SEQ_BITS = 32;

    /// @notice The id of the `seq`-th fragment of certificate `certificateId`.
    function make(uint256 certificateId, uint256 seq) internal pure returns (uint256) {
        return (certificateId << SEQ_BITS) | seq;
    }

    /// @notice The certificate a fragment belongs to.
    function certificateOf(uint256 fragmentId) internal pure returns (uint256) {
        return fragmentId >> SEQ_BITS;
    }

    /// @notice A fragment's place in its certificate: 0 for the root fragment.
    function seqOf(uint256 fragmentId) internal pure returns (uint32) {
        return uint32(fragmentId);
    }
}
