// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ICreditLedger} from "../interfaces/ICreditLedger.sol";

/// @title PauseClock
/// @notice Pausing with a memory: every pause is recorded as an interval of block time, so
/// that deadlines which a paused ledger keeps parties from meeting (the grace period, in
/// which only a repayment can save a certificate from being marked overdue) can be
/// extended by exactly the time the ledger was paused.
/// @dev Pauses are rare, emergency-only operator actions, so the history is a plain array
/// in time order: one slot per pause, found by binary search. Pausable's own Paused and
/// Unpaused events already record every change. The first module of the ledger, so the
/// one that brings ICreditLedger into the inheritance chain: every module after it
/// implements its part of the interface and the compiler checks each against it.
abstract contract PauseClock is Pausable, ICreditLedger {
    /// @dev [start, end) in block time; end is 0 while the pause lasts (only the last one).
    struct PauseInterval {
        uint40 start;
        uint40 end;
    }

    PauseInterval[] private _pauses;

    /// @inheritdoc ICreditLedger
    function paused() public view virtual override(Pausable, ICreditLedger) returns (bool) {
        return super.paused();
    }

    /// @inheritdoc ICreditLedger
    function pauseCount() external view returns (uint256) {
        return _pauses.length;
    }

    /// @inheritdoc ICreditLedger
    function pauseAt(uint256 index) external view returns (uint256 start, uint256 end) {
        PauseInterval storage interval = _pauses[index];
        return (interval.start, interval.end);
    }

    function _pause() internal virtual override {
        super._pause();
        _pauses.push(PauseInterval({start: uint40(block.timestamp), end: 0}));
    }

    function _unpause() internal virtual override {
        super._unpause();
        _pauses[_pauses.length - 1].end = uint40(block.timestamp);
    }

    /// @dev Moves `deadline` (a moment after `from`) later by the time paused between `from`
    /// and the moved deadline: the clock that runs from `from` to `deadline` stops while the
    /// ledger is paused. A pause that starts after the deadline has passed moves nothing,
    /// and a pause under way counts as if it ended now. The loop only visits pauses that
    /// overlap [from, moved deadline], found by a binary search over the history.
    function _extendByPauses(uint256 from, uint256 deadline) internal view returns (uint256) {
        uint256 count = _pauses.length;
        // first pause that ends after `from` (pauses never overlap, so ends are ordered)
        uint256 low = 0;
        uint256 high = count;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (_endOf(_pauses[mid]) <= from) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        for (uint256 i = low; i < count; ++i) {
            PauseInterval storage interval = _pauses[i];
            uint256 start = interval.start;
            if (start > deadline) break;
            deadline += _endOf(interval) - (start > from ? start : from);
        }
        return deadline;
    }

    function _endOf(PauseInterval storage interval) private view returns (uint256) {
        uint256 end = interval.end;
        return end == 0 ? block.timestamp : end;
    }
}
