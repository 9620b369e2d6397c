// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {QuorumVerifier} from "./QuorumVerifier.sol";

/// @title QuorumGoverned
/// @notice The one governance pattern of the contracts that act on a validator quorum (Settlement, Bridge): an
/// owner (OpenZeppelin Ownable2Step: a new owner must accept) rotates the validator set and sets the threshold, and
/// certificates are checked by QuorumVerifier against that set.
/// @dev The deployer picks any threshold in 1..n for the initial n validators (e.g. a Raft majority); every later
/// change keeps it in floor(2n/3)+1..n for the new count n (`ThresholdTooLow` otherwise), so validators added by
/// governance can never reach it alone. `addValidator` / `removeValidator` take the new threshold, so the set can
/// grow or shrink in one call. Changes apply to every certificate checked after them; their events name the first
/// sequence number they govern (`_effectiveFrom`, 0 for a contract without a sequence).
abstract contract QuorumGoverned is Ownable2Step {
    /// @notice Whether an address is a registered validator.
    mapping(address validator => bool) public isValidator;
    /// @notice Minimum number of distinct validator signatures a certificate needs.
    uint256 public threshold;
    /// @notice Number of registered validators.
    uint256 public validatorCount;

    /// @notice `validator` was registered; it signs for sequence `effectiveFromSequence` on.
    event ValidatorAdded(address indexed validator, uint64 effectiveFromSequence);
    /// @notice `validator` was deregistered; its signatures are refused from `effectiveFromSequence` on.
    event ValidatorRemoved(address indexed validator, uint64 effectiveFromSequence);
    /// @notice The threshold changed from `previousThreshold` to `newThreshold` for `effectiveFromSequence` on.
    event ThresholdChanged(uint256 previousThreshold, uint256 newThreshold, uint64 effectiveFromSequence);

    /// @notice An address that must be an account is the zero address.
    error ZeroAddress();
    /// @notice `threshold` is 0 or above the `validatorCount` registered validators.
    error InvalidThreshold(uint256 threshold, uint256 validatorCount);
    /// @notice A governance change would set `threshold` below `minimum` = floor(2n/3)+1.
    error ThresholdTooLow(uint256 threshold, uint256 minimum);
    /// @notice `validator` is registered already.
    error ValidatorAlreadyRegistered(address validator);
    /// @notice `validator` is not registered.
    error NotAValidator(address validator);

    /// @param owner_ Governance: the account allowed to change the validator set and threshold.
    /// @param validators The initial validator set (distinct, not zero).
    /// @param threshold_ Signatures a certificate needs (1..number of validators).
    constructor(address owner_, address[] memory validators, uint256 threshold_) Ownable(owner_) {
        for (uint256 i = 0; i < validators.length; ++i) {
            _addValidator(validators[i]);
        }
        if (threshold_ == 0 || threshold_ > validatorCount) revert InvalidThreshold(threshold_, validatorCount);
        _storeThreshold(threshold_);
    }

    /// @notice Register a validator and set the threshold for the grown set in one step. The threshold must be in
    /// floor(2n/3)+1..n for the new validator count n, so newcomers alone can never reach it.
    /// @param validator The account to register (not zero, not yet registered).
    /// @param newThreshold Signatures a certificate needs from now on.
    function addValidator(address validator, uint256 newThreshold) external onlyOwner {
        _addValidator(validator);
        _setThreshold(newThreshold);
    }

    /// @notice Deregister a validator and set the threshold for the smaller set in one step; its signatures are
    /// refused from now on. The threshold must be in floor(2n/3)+1..n for the new count n.
    /// @param validator The registered account to remove.
    /// @param newThreshold Signatures a certificate needs from now on.
    function removeValidator(address validator, uint256 newThreshold) external onlyOwner {
        if (!isValidator[validator]) revert NotAValidator(validator);
        isValidator[validator] = false;
        validatorCount -= 1;
        emit ValidatorRemoved(validator, _effectiveFrom());
        _setThreshold(newThreshold);
    }

    /// @notice Set how many distinct validator signatures a certificate needs: floor(2n/3)+1..n for n validators.
    /// @param newThreshold Signatures a certificate needs from now on.
    function setThreshold(uint256 newThreshold) external onlyOwner {
        _setThreshold(newThreshold);
    }

    /// @notice The smallest threshold governance may set for `validators` registered validators: floor(2n/3)+1.
    /// @param validators A validator count n.
    /// @return The minimum threshold for n validators.
    function minimumThreshold(uint256 validators) public pure returns (uint256) {
        return validators * 2 / 3 + 1;
    }

    /// @dev Reverts unless `signatures` (concatenated 65-byte signatures) certify `digest` (QuorumVerifier.verify).
    function _checkQuorum(bytes32 digest, bytes calldata signatures) internal view {
        QuorumVerifier.verify(digest, signatures, threshold, isValidator);
    }

    /// @dev First sequence number a governance change applies to (events only); 0 for a contract without one.
    function _effectiveFrom() internal view virtual returns (uint64) {
        return 0;
    }

    function _addValidator(address validator) private {
        if (validator == address(0)) revert ZeroAddress();
        if (isValidator[validator]) revert ValidatorAlreadyRegistered(validator);
        isValidator[validator] = true;
        validatorCount += 1;
        emit ValidatorAdded(validator, _effectiveFrom());
    }

    /// @dev Governance changes: the threshold must be in floor(2n/3)+1..n for the current count n.
    function _setThreshold(uint256 newThreshold) private {
        uint256 count = validatorCount;
        if (newThreshold > count) revert InvalidThreshold(newThreshold, count);
        uint256 minimum = minimumThreshold(count);
        if (newThreshold < minimum) revert ThresholdTooLow(newThreshold, minimum);
        _storeThreshold(newThreshold);
    }

    function _storeThreshold(uint256 newThreshold) private {
        uint256 previous = threshold;
        if (previous == newThreshold) return;
        threshold = newThreshold;
        emit ThresholdChanged(previous, newThreshold, _effectiveFrom());
    }
}
