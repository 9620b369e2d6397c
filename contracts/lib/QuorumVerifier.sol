// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title QuorumVerifier
/// @notice Checks a validator quorum certificate: concatenated 65-byte (r, s, v) ECDSA signatures over one digest
/// whose recovered signers are registered validators, strictly ascending (which rules out duplicates without a
/// lookup table) and at least `threshold` many. Settlement (batches) and Bridge (relays) both verify through
/// `verify`; its rule (`checkCount` + `checkNext`, also composed as `checkSigners`) is the piece proven by halmos in
/// security/forge/Symbolic.t.sol.
/// @dev Failures, in the order they are checked: MalformedSignatures (length not a multiple of 65),
/// InsufficientSignatures (fewer than the threshold), then per signature i: InvalidSignature (does not recover),
/// UnknownSigner (not a validator), SignersNotAscending (not above signer i-1: out of order or duplicated).
library QuorumVerifier {
    /// @notice Bytes per signature in a certificate: r (32), s (32), v (1).
    uint256 internal constant SIGNATURE_LENGTH = 65;

    /// @notice The certificate's length (in bytes) is not a multiple of 65.
    error MalformedSignatures(uint256 length);
    /// @notice Fewer signatures than the threshold.
    error InsufficientSignatures(uint256 provided, uint256 threshold);
    /// @notice Signature `index` does not recover to an address (bad v, malleable s or zero signer).
    error InvalidSignature(uint256 index);
    /// @notice Signature `index` recovers to `signer`, which is not a registered validator.
    error UnknownSigner(uint256 index, address signer);
    /// @notice Signer `index` is not above the previous one (out of order or duplicated).
    error SignersNotAscending(uint256 index, address previous, address signer);

    /// @notice Reverts unless the `signatures` over `digest` come from >= `threshold` distinct registered validators
    /// given in strictly ascending signer order.
    /// @param digest The signed digest (EIP-712 typed-data hash).
    /// @param signatures Concatenated 65-byte (r, s, v) signatures.
    /// @param threshold Signatures needed.
    /// @param isValidator The caller's validator registry.
    function verify(
        bytes32 digest,
        bytes calldata signatures,
        uint256 threshold,
        mapping(address => bool) storage isValidator
    ) internal view {
        if (signatures.length % SIGNATURE_LENGTH != 0) revert MalformedSignatures(signatures.length);
        uint256 count = signatures.length / SIGNATURE_LENGTH;
        checkCount(count, threshold);
        address previous = address(0);
        for (uint256 i = 0; i < count; ++i) {
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                let p := add(signatures.offset, mul(i, 65))
                r := calldataload(p)
                s := calldataload(add(p, 32))
                v := byte(0, calldataload(add(p, 64)))
            }
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v, r, s);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (!isValidator[signer]) revert UnknownSigner(i, signer);
            previous = checkNext(i, previous, signer);
        }
    }

    /// @notice Reverts unless `signers` is strictly ascending, has no zero address and has >= `threshold` entries:
    /// the rule `verify` applies to recovered signers (membership aside), checked symbolically by halmos.
    /// @param signers Recovered signers in submission order.
    /// @param threshold Signatures needed.
    function checkSigners(address[] memory signers, uint256 threshold) internal pure {
        checkCount(signers.length, threshold);
        address previous = address(0);
        for (uint256 i = 0; i < signers.length; ++i) {
            previous = checkNext(i, previous, signers[i]);
        }
    }

    /// @notice Reverts with InsufficientSignatures unless `count` >= `threshold`.
    /// @param count Signatures provided.
    /// @param threshold Signatures needed.
    function checkCount(uint256 count, uint256 threshold) internal pure {
        if (count < threshold) revert InsufficientSignatures(count, threshold);
    }

    /// @notice Reverts with SignersNotAscending unless `signer` is above `previous` (address(0) before the first).
    /// @param index Position of `signer` in the certificate.
    /// @param previous The signer before it (address(0) for the first).
    /// @param signer The signer at `index`.
    /// @return `signer`, the `previous` of the next step.
    function checkNext(uint256 index, address previous, address signer) internal pure returns (address) {
        if (signer <= previous) revert SignersNotAscending(index, previous, signer);
        return signer;
    }
}
