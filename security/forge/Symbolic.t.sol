// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {QuorumVerifier} from "../../contracts/lib/QuorumVerifier.sol";

/// @dev External wrapper so a check can observe whether the library reverts.
contract QuorumHarness {
    function check(address[] memory signers, uint256 threshold) external pure {
        QuorumVerifier.checkSigners(signers, threshold);
    }
}

/// @notice halmos symbolic checks (check_* functions; forge test ignores them). Run: make security (or halmos).
/// The AMM amount-out property is a forge fuzz test (AmmFormulaFuzz in AmmInvariants.t.sol): as a halmos check,
/// yices timed out on its 256-bit products and quotient even with inputs narrowed to uint16.
contract SymbolicChecks {
    QuorumHarness internal quorum;

    function setUp() public {
        quorum = new QuorumHarness();
    }

    /// Any three signers accepted by the verifier are strictly ascending, hence distinct, non-zero, >= threshold.
    function check_quorumAcceptsOnlySortedDistinct(address a, address b, address c, uint256 threshold) public view {
        address[] memory signers = new address[](3);
        (signers[0], signers[1], signers[2]) = (a, b, c);
        try quorum.check(signers, threshold) {
            assert(threshold <= 3);
            assert(a != address(0) && a < b && b < c);
        } catch {
            assert(threshold > 3 || !(a != address(0) && a < b && b < c));
        }
    }

    /// Below the threshold is always refused, whatever the signers.
    function check_quorumRefusesBelowThreshold(address a, address b, uint256 threshold) public view {
        address[] memory signers = new address[](2);
        (signers[0], signers[1]) = (a, b);
        if (threshold <= 2) return;
        try quorum.check(signers, threshold) {
            assert(false);
        } catch {}
    }

    /// A duplicated signer is always refused, wherever the duplicate sits.
    function check_quorumRefusesDuplicates(address a, address b, uint256 threshold) public view {
        address[] memory signers = new address[](3);
        (signers[0], signers[1], signers[2]) = (a, b, b);
        try quorum.check(signers, threshold) {
            assert(false);
        } catch {}
        (signers[0], signers[1], signers[2]) = (a, a, b);
        try quorum.check(signers, threshold) {
            assert(false);
        } catch {}
    }
}
