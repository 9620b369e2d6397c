// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title QuorumVerifier
/// @notice The pure part of checking a validator quorum certificate: the recovered signers, in submission order,
/// must be strictly ascending (which rules out duplicates without a lookup table) and at least `threshold` many.
/// @dev Membership of each signer in the validator set stays with the caller (it is storage). Settlement and Bridge
/// implement the same rule inline today; this library is the shared piece they are meant to move to (planned), and
/// it is the piece proven by halmos in security/forge/Symbolic.t.sol.
library QuorumVerifier {
    /// @notice Fewer signatures than the threshold.
    error InsufficientSignatures(uint256 provided, uint256 threshold);
    /// @notice Signer `index` is not above the previous one (out of order or duplicated).
    error SignersNotAscending(uint256 index, address previous, address signer);

    /// @notice Reverts unless `signers` is strictly ascending, has no zero address and has >= `threshold` entries.
    function checkSigners(address[] memory signers, uint256 threshold) internal pure {
        if (signers.length < threshold) revert InsufficientSignatures(signers.length, threshold);
        address previous = address(0);
        for (uint256 i = 0; i < signers.length; ++i) {
            address signer = signers[i];
            if (signer <= previous) revert SignersNotAscending(i, previous, signer);
            previous = signer;
        }
    }
}
