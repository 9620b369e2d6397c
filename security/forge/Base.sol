// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev The few forge cheatcodes the suites use (npm's forge-std is too old for this forge; no other dependency).
interface Vm {
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 timestamp) external;
    function roll(uint256 blockNumber) external;
    function chainId(uint256 newChainId) external;
    function assume(bool condition) external pure;
}

/// @dev Base of every suite and handler: the cheatcode handle and a bounded-input helper.
abstract contract Cheats {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        return lo + x % (hi - lo + 1);
    }
}

/// @dev Base of an invariant suite: forge calls only the contracts listed by targetContracts() (the handlers).
abstract contract InvariantSuite is Cheats {
    address[] private _targets;

    function targetContract(address target) internal {
        _targets.push(target);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }
}
