// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken
/// @notice An ERC20 that burns `feeBps` basis points of every transfer (like Uniswap V2's DeflatingERC20 test token),
/// for testing the router's *SupportingFeeOnTransferTokens functions. Not for production use.
contract FeeOnTransferToken is ERC20 {
    /// @notice Share of every transfer that is burnt, in basis points.
    uint256 public immutable feeBps;

    /// @notice Mints `supply` base units to the deployer.
    /// @param supply Initial supply in base units.
    /// @param feeBps_ Share of every transfer that is burnt, in basis points (at most 10,000).
    constructor(uint256 supply, uint256 feeBps_) ERC20("Fee On Transfer", "FOT") {
        feeBps = feeBps_;
        _mint(msg.sender, supply);
    }

    /// @dev Transfers (not mints or burns) burn the fee from the sender and deliver the rest.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = value * feeBps / 10_000;
            super._update(from, address(0), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}
