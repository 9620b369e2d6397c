// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ERC20 representation of a token locked on another chain; only its bridge mints and burns.
contract WrappedToken is ERC20 {
    /// @notice The bridge allowed to mint and burn.
    address public immutable bridge;
    /// @notice Chain id of the chain holding the original token.
    uint256 public immutable sourceChainId;
    /// @notice Address of the original token on the source chain.
    address public immutable sourceToken;
    uint8 private immutable _decimals;

    error OnlyBridge(address caller, address bridge);
    error ZeroSourceToken();

    /// @notice Created by the bridge for one (source chain, source token).
    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 sourceChainId_, address sourceToken_)
        ERC20(name_, symbol_)
    {
        if (sourceToken_ == address(0)) revert ZeroSourceToken();
        bridge = msg.sender;
        _decimals = decimals_;
        sourceChainId = sourceChainId_;
        sourceToken = sourceToken_;
    }

    modifier onlyBridge() {
        if (msg.sender != bridge) revert OnlyBridge(msg.sender, bridge);
        _;
    }

    /// @notice Decimals of the original token.
    /// @return The decimals.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mints `amount` to `to`; bridge only.
    /// @param to Receiver of the minted tokens.
    /// @param amount Amount in token base units.
    function mint(address to, uint256 amount) external onlyBridge {
        _mint(to, amount);
    }

    /// @notice Burns `amount` from `from`; bridge only (the bridge burns what a user asks to send back).
    /// @param from The account burned from.
    /// @param amount Amount in token base units.
    function burn(address from, uint256 amount) external onlyBridge {
        _burn(from, amount);
    }
}
