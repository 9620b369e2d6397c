// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title TestToken
/// @notice A mintable ERC20 with configurable decimals, for scenarios and tests.
/// @dev The owner mints; anyone may burn their own tokens. Not for production use.
contract TestToken is ERC20, Ownable {
    uint8 private immutable _decimals;

    /// @notice Creates the token; the deployer becomes the owner allowed to mint.
    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Number of decimals of the token's base unit.
    constructor(string memory name_, string memory symbol_, uint8 decimals_)
        ERC20(name_, symbol_)
        Ownable(msg.sender)
    {
        _decimals = decimals_;
    }

    /// @notice Number of decimals of the token's base unit.
    /// @return The decimals given at construction.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mints `amount` base units to `to`; only the owner may call it.
    /// @param to Recipient of the new tokens.
    /// @param amount Amount in base units.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Burns `amount` base units from the caller's balance.
    /// @param amount Amount in base units.
    function burn(uint256 amount) external {
        _burn(msg.sender, amount);
    }
}
