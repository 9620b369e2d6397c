// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IUniswapV2Callee} from "./Pair.sol";

interface IPairActions {
    /// @notice The pair's lower-address token.
    /// @return The pair's token0.
    function token0() external view returns (address);
    /// @notice The pair's higher-address token.
    /// @return The pair's token1.
    function token1() external view returns (address);
    /// @notice Sets the pair's reserves to its balances (used to test the reentrancy lock).
    function sync() external;
}

/// @title Flash-swap receiver for tests and examples: repays the amounts encoded in `data` (or re-enters the pair).
contract FlashBorrower is IUniswapV2Callee {
    using SafeERC20 for IERC20;

    /// @notice The last callback's arguments, for inspection.
    address public lastSender;
    uint256 public lastAmount0;
    uint256 public lastAmount1;

    event FlashReceived(address indexed pair, address sender, uint256 amount0, uint256 amount1);

    /// @notice data = abi.encode(bool reenter, uint256 repay0, uint256 repay1): pays repay0/repay1 back to the pair
    /// from this contract's balance, or calls pair.sync() (which the pair's reentrancy lock must refuse).
    /// @param sender The account that called swap on the pair.
    /// @param amount0 token0 sent out by the pair.
    /// @param amount1 token1 sent out by the pair.
    /// @param data The swap's callback data.
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data) external {
        (bool reenter, uint256 repay0, uint256 repay1) = abi.decode(data, (bool, uint256, uint256));
        lastSender = sender;
        lastAmount0 = amount0;
        lastAmount1 = amount1;
        emit FlashReceived(msg.sender, sender, amount0, amount1);
        if (reenter) IPairActions(msg.sender).sync();
        if (repay0 > 0) IERC20(IPairActions(msg.sender).token0()).safeTransfer(msg.sender, repay0);
        if (repay1 > 0) IERC20(IPairActions(msg.sender).token1()).safeTransfer(msg.sender, repay1);
    }
}
