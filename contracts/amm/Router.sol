// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Factory} from "./Factory.sol";
import {Pair} from "./Pair.sol";

/// @title Stateless helper for Pairs: liquidity and multi-hop swaps with slippage limits and deadlines.
/// @notice Same integer math as Uniswap V2's UniswapV2Library, with the fee read from each pair (basis points).
contract Router {
    using SafeERC20 for IERC20;

    uint256 private constant FEE_DENOMINATOR = 10_000;

    /// @notice The factory whose pairs this router trades.
    Factory public immutable factory;

    error Expired(uint256 deadline, uint256 timestamp);
    error InsufficientOutputAmount(uint256 amountOut, uint256 amountOutMin);
    error ExcessiveInputAmount(uint256 amountIn, uint256 amountInMax);
    error InsufficientAAmount(uint256 amountA, uint256 amountAMin);
    error InsufficientBAmount(uint256 amountB, uint256 amountBMin);
    error InsufficientAmount(uint256 amount);
    error InsufficientLiquidity(uint256 reserveIn, uint256 reserveOut);
    error InvalidPath(uint256 length);
    error PairNotFound(address tokenA, address tokenB);

    modifier ensure(uint256 deadline) {
        if (deadline < block.timestamp) revert Expired(deadline, block.timestamp);
        _;
    }

    /// @param _factory Factory whose pairs this router trades.
    constructor(Factory _factory) {
        factory = _factory;
    }

    /// @notice Adds liquidity at the current ratio (creating the pair with the default fee if missing).
    /// @return amountA tokenA deposited; amountB tokenB deposited; liquidity LP tokens minted to `to`.
    function addLiquidity(
        address tokenA,
        address tokenB,
        uint256 amountADesired,
        uint256 amountBDesired,
        uint256 amountAMin,
        uint256 amountBMin,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256 amountA, uint256 amountB, uint256 liquidity) {
        (amountA, amountB) = _liquidityAmounts(tokenA, tokenB, amountADesired, amountBDesired, amountAMin, amountBMin);
        liquidity = _deposit(tokenA, tokenB, amountA, amountB, to);
    }

    /// @notice Burns `liquidity` LP tokens of the caller and sends both tokens to `to`.
    /// @return amountA tokenA received; amountB tokenB received.
    function removeLiquidity(
        address tokenA,
        address tokenB,
        uint256 liquidity,
        uint256 amountAMin,
        uint256 amountBMin,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256 amountA, uint256 amountB) {
        address pair = _pair(tokenA, tokenB);
        IERC20(pair).safeTransferFrom(msg.sender, pair, liquidity);
        (uint256 amount0, uint256 amount1) = Pair(pair).burn(to);
        (amountA, amountB) = tokenA < tokenB ? (amount0, amount1) : (amount1, amount0);
        if (amountA < amountAMin) revert InsufficientAAmount(amountA, amountAMin);
        if (amountB < amountBMin) revert InsufficientBAmount(amountB, amountBMin);
    }

    /// @notice Swaps exactly `amountIn` of path[0] along `path`, requiring at least `amountOutMin` of the last token.
    /// @return amounts Amount entering each hop followed by the final output.
    function swapExactTokensForTokens(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256[] memory amounts) {
        amounts = getAmountsOut(amountIn, path);
        uint256 amountOut = amounts[amounts.length - 1];
        if (amountOut < amountOutMin) revert InsufficientOutputAmount(amountOut, amountOutMin);
        IERC20(path[0]).safeTransferFrom(msg.sender, _pair(path[0], path[1]), amounts[0]);
        _swap(amounts, path, to);
    }

    /// @notice Receives exactly `amountOut` of the last token of `path`, paying at most `amountInMax` of path[0].
    /// @return amounts Amount entering each hop followed by the final output.
    function swapTokensForExactTokens(
        uint256 amountOut,
        uint256 amountInMax,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256[] memory amounts) {
        amounts = getAmountsIn(amountOut, path);
        if (amounts[0] > amountInMax) revert ExcessiveInputAmount(amounts[0], amountInMax);
        IERC20(path[0]).safeTransferFrom(msg.sender, _pair(path[0], path[1]), amounts[0]);
        _swap(amounts, path, to);
    }

    /// @notice Amount of B worth `amountA` at the reserve ratio (no fee).
    function quote(uint256 amountA, uint256 reserveA, uint256 reserveB) public pure returns (uint256 amountB) {
        if (amountA == 0) revert InsufficientAmount(amountA);
        if (reserveA == 0 || reserveB == 0) revert InsufficientLiquidity(reserveA, reserveB);
        amountB = amountA * reserveB / reserveA;
    }

    /// @notice Output of swapping `amountIn` into a pool with the given reserves and fee (basis points).
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut, uint256 feeBps)
        public
        pure
        returns (uint256 amountOut)
    {
        if (amountIn == 0) revert InsufficientAmount(amountIn);
        if (reserveIn == 0 || reserveOut == 0) revert InsufficientLiquidity(reserveIn, reserveOut);
        uint256 amountInWithFee = amountIn * (FEE_DENOMINATOR - feeBps);
        amountOut = amountInWithFee * reserveOut / (reserveIn * FEE_DENOMINATOR + amountInWithFee);
    }

    /// @notice Smallest input that yields `amountOut` from a pool with the given reserves and fee (basis points).
    function getAmountIn(uint256 amountOut, uint256 reserveIn, uint256 reserveOut, uint256 feeBps)
        public
        pure
        returns (uint256 amountIn)
    {
        if (amountOut == 0) revert InsufficientAmount(amountOut);
        if (reserveIn == 0 || reserveOut <= amountOut) revert InsufficientLiquidity(reserveIn, reserveOut);
        amountIn = reserveIn * amountOut * FEE_DENOMINATOR / ((reserveOut - amountOut) * (FEE_DENOMINATOR - feeBps)) + 1;
    }

    /// @notice Amounts along `path` when swapping exactly `amountIn`.
    function getAmountsOut(uint256 amountIn, address[] calldata path) public view returns (uint256[] memory amounts) {
        if (path.length < 2) revert InvalidPath(path.length);
        amounts = new uint256[](path.length);
        amounts[0] = amountIn;
        for (uint256 i; i < path.length - 1; i++) {
            address pair = _pair(path[i], path[i + 1]);
            (uint256 reserveIn, uint256 reserveOut) = _reserves(pair, path[i]);
            amounts[i + 1] = getAmountOut(amounts[i], reserveIn, reserveOut, Pair(pair).fee());
        }
    }

    /// @notice Amounts along `path` needed to receive exactly `amountOut`.
    function getAmountsIn(uint256 amountOut, address[] calldata path) public view returns (uint256[] memory amounts) {
        if (path.length < 2) revert InvalidPath(path.length);
        amounts = new uint256[](path.length);
        amounts[amounts.length - 1] = amountOut;
        for (uint256 i = path.length - 1; i > 0; i--) {
            address pair = _pair(path[i - 1], path[i]);
            (uint256 reserveIn, uint256 reserveOut) = _reserves(pair, path[i - 1]);
            amounts[i - 1] = getAmountIn(amounts[i], reserveIn, reserveOut, Pair(pair).fee());
        }
    }

    function _liquidityAmounts(
        address tokenA,
        address tokenB,
        uint256 amountADesired,
        uint256 amountBDesired,
        uint256 amountAMin,
        uint256 amountBMin
    ) private returns (uint256 amountA, uint256 amountB) {
        address pair = factory.getPair(tokenA, tokenB);
        if (pair == address(0)) pair = factory.createPair(tokenA, tokenB);
        (uint256 reserveA, uint256 reserveB) = _reserves(pair, tokenA);
        if (reserveA == 0 && reserveB == 0) return (amountADesired, amountBDesired);
        uint256 amountBOptimal = quote(amountADesired, reserveA, reserveB);
        if (amountBOptimal <= amountBDesired) {
            if (amountBOptimal < amountBMin) revert InsufficientBAmount(amountBOptimal, amountBMin);
            return (amountADesired, amountBOptimal);
        }
        uint256 amountAOptimal = quote(amountBDesired, reserveB, reserveA);
        if (amountAOptimal < amountAMin) revert InsufficientAAmount(amountAOptimal, amountAMin);
        return (amountAOptimal, amountBDesired);
    }

    function _deposit(address tokenA, address tokenB, uint256 amountA, uint256 amountB, address to)
        private
        returns (uint256 liquidity)
    {
        address pair = _pair(tokenA, tokenB);
        IERC20(tokenA).safeTransferFrom(msg.sender, pair, amountA);
        IERC20(tokenB).safeTransferFrom(msg.sender, pair, amountB);
        liquidity = Pair(pair).mint(to);
    }

    function _swap(uint256[] memory amounts, address[] calldata path, address _to) private {
        for (uint256 i; i < path.length - 1; i++) {
            (address input, address output) = (path[i], path[i + 1]);
            uint256 amountOut = amounts[i + 1];
            (uint256 amount0Out, uint256 amount1Out) = input < output ? (uint256(0), amountOut) : (amountOut, uint256(0));
            address to = i < path.length - 2 ? _pair(output, path[i + 2]) : _to;
            Pair(_pair(input, output)).swap(amount0Out, amount1Out, to, new bytes(0));
        }
    }

    function _pair(address tokenA, address tokenB) private view returns (address pair) {
        pair = factory.getPair(tokenA, tokenB);
        if (pair == address(0)) revert PairNotFound(tokenA, tokenB);
    }

    function _reserves(address pair, address tokenA) private view returns (uint256 reserveA, uint256 reserveB) {
        (uint112 reserve0, uint112 reserve1,) = Pair(pair).getReserves();
        (reserveA, reserveB) = tokenA == Pair(pair).token0() ? (reserve0, reserve1) : (reserve1, reserve0);
    }
}
