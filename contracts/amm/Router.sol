// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Factory} from "./Factory.sol";
import {Pair} from "./Pair.sol";

/// @notice The part of WETH9 (contracts/amm/WETH9.sol, or mainnet's) that the router uses besides ERC20.
interface IWETH {
    /// @notice Wraps msg.value ETH into WETH for the caller.
    function deposit() external payable;
    /// @notice Unwraps `wad` WETH of the caller into ETH.
    /// @param wad Amount in wei.
    function withdraw(uint256 wad) external;
}

/// @title Stateless helper for Pairs with Uniswap V2 Router02's interface: liquidity, multi-hop swaps, ETH via WETH.
/// @notice Every function of IUniswapV2Router02 (@uniswap/v2-periphery 1.1.0-beta.0) with the same signature,
/// arguments and integer results, so V2 tooling works unchanged. Differences, by design:
/// - Pairs charge their own fee (Factory.createPairWithFee). getAmountsOut/getAmountsIn and every swap read each
///   pair's fee; the pure three-argument getAmountOut/getAmountIn assume the default 30 bps fee, exactly as V2's
///   0.3 % (identical results); getAmountOutWithFee/getAmountInWithFee take the fee as an extension.
/// - Reverts are custom errors carrying the values (Expired(deadline, timestamp), ...), not V2's strings.
/// - A missing pair reverts with PairNotFound(tokenA, tokenB) instead of a call to an empty address.
/// Pair addresses are CREATE2-derived from the factory and the Pair init code hash (no factory call), as in V2.
contract Router {
    using SafeERC20 for IERC20;

    uint256 private constant FEE_DENOMINATOR = 10_000;
    /// @notice Fee assumed by the three-argument getAmountOut/getAmountIn: Factory.DEFAULT_FEE_BPS (V2's 0.3 %).
    uint256 public constant DEFAULT_FEE_BPS = 30;

    /// @notice The factory whose pairs this router trades.
    Factory public immutable factory;
    /// @notice The WETH9 contract wrapping ETH for the ETH functions.
    address public immutable WETH;
    /// @notice keccak256 of Pair's creation code: with the factory and the sorted tokens it gives a pair's address.
    bytes32 public immutable pairInitCodeHash;

    /// @notice block.timestamp is past the caller's deadline.
    error Expired(uint256 deadline, uint256 timestamp);
    /// @notice The swap pays `amountOut`, less than the caller's minimum.
    error InsufficientOutputAmount(uint256 amountOut, uint256 amountOutMin);
    /// @notice The swap needs `amountIn`, more than the caller's maximum (or than the ETH sent).
    error ExcessiveInputAmount(uint256 amountIn, uint256 amountInMax);
    /// @notice The deposit or withdrawal of tokenA would be `amountA`, less than the caller's minimum.
    error InsufficientAAmount(uint256 amountA, uint256 amountAMin);
    /// @notice The deposit or withdrawal of tokenB would be `amountB`, less than the caller's minimum.
    error InsufficientBAmount(uint256 amountB, uint256 amountBMin);
    /// @notice An amount that must be positive is zero.
    error InsufficientAmount(uint256 amount);
    /// @notice The reserves cannot serve the request (a zero reserve, or an output not below the reserve).
    error InsufficientLiquidity(uint256 reserveIn, uint256 reserveOut);
    /// @notice A path needs at least two tokens.
    error InvalidPath(uint256 length);
    /// @notice path[index] must be WETH for this ETH function but is `token`.
    error PathNotWeth(uint256 index, address token, address weth);
    /// @notice No pair of the two tokens exists.
    error PairNotFound(address tokenA, address tokenB);
    /// @notice A fee must be below 10,000 basis points.
    error InvalidFee(uint256 feeBps);
    /// @notice Sending `amount` wei to `to` failed.
    error EthTransferFailed(address to, uint256 amount);
    /// @notice Only WETH may send ETH to the router (when unwrapping).
    error OnlyWeth(address sender);

    modifier ensure(uint256 deadline) {
        if (deadline < block.timestamp) revert Expired(deadline, block.timestamp);
        _;
    }

    /// @param _factory Factory whose pairs this router trades.
    /// @param _WETH WETH9 contract used by the ETH functions.
    constructor(Factory _factory, address _WETH) {
        factory = _factory;
        WETH = _WETH;
        pairInitCodeHash = keccak256(type(Pair).creationCode);
    }

    /// @notice Accepts ETH only from WETH (withdraw during removeLiquidityETH and the swaps paying out ETH).
    receive() external payable {
        if (msg.sender != WETH) revert OnlyWeth(msg.sender);
    }

    // ---- liquidity -------------------------------------------------------------------------------------------------

    /// @notice Adds liquidity at the current ratio (creating the pair with the default fee if missing).
    /// @param tokenA One token of the pair.
    /// @param tokenB The other token of the pair.
    /// @param amountADesired Most tokenA to deposit.
    /// @param amountBDesired Most tokenB to deposit.
    /// @param amountAMin Least tokenA to deposit or receive (slippage bound).
    /// @param amountBMin Least tokenB to deposit or receive (slippage bound).
    /// @param to Receiver of the LP tokens.
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amountA tokenA deposited.
    /// @return amountB tokenB deposited.
    /// @return liquidity LP tokens minted to `to`.
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

    /// @notice Adds liquidity to the token/WETH pair with msg.value as the desired ETH; unused ETH is refunded.
    /// @param token The token paired with WETH.
    /// @param amountTokenDesired Most of the token to deposit.
    /// @param amountTokenMin Least of the token to deposit or receive (slippage bound).
    /// @param amountETHMin Least ETH to deposit or receive (slippage bound).
    /// @param to Receiver of the LP tokens.
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amountToken token deposited.
    /// @return amountETH ETH deposited (as WETH).
    /// @return liquidity LP tokens minted to `to`.
    function addLiquidityETH(
        address token,
        uint256 amountTokenDesired,
        uint256 amountTokenMin,
        uint256 amountETHMin,
        address to,
        uint256 deadline
    ) external payable ensure(deadline) returns (uint256 amountToken, uint256 amountETH, uint256 liquidity) {
        (amountToken, amountETH) =
            _liquidityAmounts(token, WETH, amountTokenDesired, msg.value, amountTokenMin, amountETHMin);
        address pair = _pairFor(token, WETH);
        IERC20(token).safeTransferFrom(msg.sender, pair, amountToken);
        IWETH(WETH).deposit{value: amountETH}();
        IERC20(WETH).safeTransfer(pair, amountETH);
        liquidity = Pair(pair).mint(to);
        if (msg.value > amountETH) _sendETH(msg.sender, msg.value - amountETH);
    }

    /// @notice Burns `liquidity` LP tokens of the caller and sends both tokens to `to`.
    /// @param tokenA One token of the pair.
    /// @param tokenB The other token of the pair.
    /// @param liquidity LP tokens to burn.
    /// @param amountAMin Least tokenA to deposit or receive (slippage bound).
    /// @param amountBMin Least tokenB to deposit or receive (slippage bound).
    /// @param to Receiver of the withdrawn tokens (and ETH).
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amountA tokenA received.
    /// @return amountB tokenB received.
    function removeLiquidity(
        address tokenA,
        address tokenB,
        uint256 liquidity,
        uint256 amountAMin,
        uint256 amountBMin,
        address to,
        uint256 deadline
    ) public ensure(deadline) returns (uint256 amountA, uint256 amountB) {
        address pair = _existingPair(tokenA, tokenB);
        IERC20(pair).safeTransferFrom(msg.sender, pair, liquidity);
        (uint256 amount0, uint256 amount1) = Pair(pair).burn(to);
        (amountA, amountB) = tokenA < tokenB ? (amount0, amount1) : (amount1, amount0);
        if (amountA < amountAMin) revert InsufficientAAmount(amountA, amountAMin);
        if (amountB < amountBMin) revert InsufficientBAmount(amountB, amountBMin);
    }

    /// @notice Burns `liquidity` LP tokens of the token/WETH pair; sends the token and unwrapped ETH to `to`.
    /// @param token The token paired with WETH.
    /// @param liquidity LP tokens to burn.
    /// @param amountTokenMin Least of the token to deposit or receive (slippage bound).
    /// @param amountETHMin Least ETH to deposit or receive (slippage bound).
    /// @param to Receiver of the withdrawn tokens (and ETH).
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amountToken token received.
    /// @return amountETH ETH received.
    function removeLiquidityETH(
        address token,
        uint256 liquidity,
        uint256 amountTokenMin,
        uint256 amountETHMin,
        address to,
        uint256 deadline
    ) public ensure(deadline) returns (uint256 amountToken, uint256 amountETH) {
        (amountToken, amountETH) =
            removeLiquidity(token, WETH, liquidity, amountTokenMin, amountETHMin, address(this), deadline);
        IERC20(token).safeTransfer(to, amountToken);
        IWETH(WETH).withdraw(amountETH);
        _sendETH(to, amountETH);
    }

    /// @notice removeLiquidity after an EIP-2612 permit of the LP token (`liquidity`, or unlimited with approveMax).
    /// @param tokenA One token of the pair.
    /// @param tokenB The other token of the pair.
    /// @param liquidity LP tokens to burn.
    /// @param amountAMin Least tokenA to deposit or receive (slippage bound).
    /// @param amountBMin Least tokenB to deposit or receive (slippage bound).
    /// @param to Receiver of the withdrawn tokens (and ETH).
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @param approveMax Whether the permit approves an unlimited amount.
    /// @param v Permit signature v.
    /// @param r Permit signature r.
    /// @param s Permit signature s.
    /// @return amountA tokenA received.
    /// @return amountB tokenB received.
    function removeLiquidityWithPermit(
        address tokenA,
        address tokenB,
        uint256 liquidity,
        uint256 amountAMin,
        uint256 amountBMin,
        address to,
        uint256 deadline,
        bool approveMax,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 amountA, uint256 amountB) {
        _permit(_existingPair(tokenA, tokenB), liquidity, deadline, approveMax, v, r, s);
        (amountA, amountB) = removeLiquidity(tokenA, tokenB, liquidity, amountAMin, amountBMin, to, deadline);
    }

    /// @notice removeLiquidityETH after an EIP-2612 permit of the LP token (`liquidity`, or unlimited with approveMax).
    /// @param token The token paired with WETH.
    /// @param liquidity LP tokens to burn.
    /// @param amountTokenMin Least of the token to deposit or receive (slippage bound).
    /// @param amountETHMin Least ETH to deposit or receive (slippage bound).
    /// @param to Receiver of the withdrawn tokens (and ETH).
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @param approveMax Whether the permit approves an unlimited amount.
    /// @param v Permit signature v.
    /// @param r Permit signature r.
    /// @param s Permit signature s.
    /// @return amountToken token received.
    /// @return amountETH ETH received.
    function removeLiquidityETHWithPermit(
        address token,
        uint256 liquidity,
        uint256 amountTokenMin,
        uint256 amountETHMin,
        address to,
        uint256 deadline,
        bool approveMax,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 amountToken, uint256 amountETH) {
        _permit(_existingPair(token, WETH), liquidity, deadline, approveMax, v, r, s);
        (amountToken, amountETH) = removeLiquidityETH(token, liquidity, amountTokenMin, amountETHMin, to, deadline);
    }

    /// @notice removeLiquidityETH for tokens that take a fee on transfer: forwards the router's whole token balance.
    /// @param token The token paired with WETH.
    /// @param liquidity LP tokens to burn.
    /// @param amountTokenMin Least of the token to deposit or receive (slippage bound).
    /// @param amountETHMin Least ETH to deposit or receive (slippage bound).
    /// @param to Receiver of the withdrawn tokens (and ETH).
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amountETH ETH received.
    function removeLiquidityETHSupportingFeeOnTransferTokens(
        address token,
        uint256 liquidity,
        uint256 amountTokenMin,
        uint256 amountETHMin,
        address to,
        uint256 deadline
    ) public ensure(deadline) returns (uint256 amountETH) {
        (, amountETH) = removeLiquidity(token, WETH, liquidity, amountTokenMin, amountETHMin, address(this), deadline);
        IERC20(token).safeTransfer(to, IERC20(token).balanceOf(address(this)));
        IWETH(WETH).withdraw(amountETH);
        _sendETH(to, amountETH);
    }

    /// @notice removeLiquidityETHSupportingFeeOnTransferTokens after an EIP-2612 permit of the LP token.
    /// @param token The token paired with WETH.
    /// @param liquidity LP tokens to burn.
    /// @param amountTokenMin Least of the token to deposit or receive (slippage bound).
    /// @param amountETHMin Least ETH to deposit or receive (slippage bound).
    /// @param to Receiver of the withdrawn tokens (and ETH).
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @param approveMax Whether the permit approves an unlimited amount.
    /// @param v Permit signature v.
    /// @param r Permit signature r.
    /// @param s Permit signature s.
    /// @return amountETH ETH received.
    function removeLiquidityETHWithPermitSupportingFeeOnTransferTokens(
        address token,
        uint256 liquidity,
        uint256 amountTokenMin,
        uint256 amountETHMin,
        address to,
        uint256 deadline,
        bool approveMax,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 amountETH) {
        _permit(_existingPair(token, WETH), liquidity, deadline, approveMax, v, r, s);
        amountETH = removeLiquidityETHSupportingFeeOnTransferTokens(
            token, liquidity, amountTokenMin, amountETHMin, to, deadline
        );
    }

    // ---- swaps -----------------------------------------------------------------------------------------------------

    /// @notice Swaps exactly `amountIn` of path[0] along `path`, requiring at least `amountOutMin` of the last token.
    /// @param amountIn Input amount.
    /// @param amountOutMin Least output to accept (slippage bound).
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
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
        IERC20(path[0]).safeTransferFrom(msg.sender, _pairFor(path[0], path[1]), amounts[0]);
        _swap(amounts, path, to);
    }

    /// @notice Receives exactly `amountOut` of the last token of `path`, paying at most `amountInMax` of path[0].
    /// @param amountOut Output amount.
    /// @param amountInMax Most input to pay (slippage bound).
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
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
        IERC20(path[0]).safeTransferFrom(msg.sender, _pairFor(path[0], path[1]), amounts[0]);
        _swap(amounts, path, to);
    }

    /// @notice Swaps exactly msg.value ETH (path[0] must be WETH) for at least `amountOutMin` of the last token.
    /// @param amountOutMin Least output to accept (slippage bound).
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amounts Amount entering each hop followed by the final output.
    function swapExactETHForTokens(uint256 amountOutMin, address[] calldata path, address to, uint256 deadline)
        external
        payable
        ensure(deadline)
        returns (uint256[] memory amounts)
    {
        _requireWeth(path, false);
        amounts = getAmountsOut(msg.value, path);
        uint256 amountOut = amounts[amounts.length - 1];
        if (amountOut < amountOutMin) revert InsufficientOutputAmount(amountOut, amountOutMin);
        _wrapTo(_pairFor(path[0], path[1]), amounts[0]);
        _swap(amounts, path, to);
    }

    /// @notice Receives exactly `amountOut` ETH (the last token must be WETH), paying at most `amountInMax` of path[0].
    /// @param amountOut Output amount.
    /// @param amountInMax Most input to pay (slippage bound).
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amounts Amount entering each hop followed by the final output.
    function swapTokensForExactETH(
        uint256 amountOut,
        uint256 amountInMax,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256[] memory amounts) {
        _requireWeth(path, true);
        amounts = getAmountsIn(amountOut, path);
        if (amounts[0] > amountInMax) revert ExcessiveInputAmount(amounts[0], amountInMax);
        IERC20(path[0]).safeTransferFrom(msg.sender, _pairFor(path[0], path[1]), amounts[0]);
        _swap(amounts, path, address(this));
        _unwrapTo(to, amountOut);
    }

    /// @notice Swaps exactly `amountIn` of path[0] for at least `amountOutMin` ETH (the last token must be WETH).
    /// @param amountIn Input amount.
    /// @param amountOutMin Least output to accept (slippage bound).
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amounts Amount entering each hop followed by the final output.
    function swapExactTokensForETH(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256[] memory amounts) {
        _requireWeth(path, true);
        amounts = getAmountsOut(amountIn, path);
        uint256 amountOut = amounts[amounts.length - 1];
        if (amountOut < amountOutMin) revert InsufficientOutputAmount(amountOut, amountOutMin);
        IERC20(path[0]).safeTransferFrom(msg.sender, _pairFor(path[0], path[1]), amounts[0]);
        _swap(amounts, path, address(this));
        _unwrapTo(to, amountOut);
    }

    /// @notice Receives exactly `amountOut` of the last token for ETH (path[0] must be WETH); unused ETH is refunded.
    /// @param amountOut Output amount.
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
    /// @return amounts Amount entering each hop followed by the final output.
    function swapETHForExactTokens(uint256 amountOut, address[] calldata path, address to, uint256 deadline)
        external
        payable
        ensure(deadline)
        returns (uint256[] memory amounts)
    {
        _requireWeth(path, false);
        amounts = getAmountsIn(amountOut, path);
        if (amounts[0] > msg.value) revert ExcessiveInputAmount(amounts[0], msg.value);
        _wrapTo(_pairFor(path[0], path[1]), amounts[0]);
        _swap(amounts, path, to);
        if (msg.value > amounts[0]) _sendETH(msg.sender, msg.value - amounts[0]);
    }

    /// @notice swapExactTokensForTokens for tokens that take a fee on transfer: each hop swaps what the pair received;
    /// `amountOutMin` bounds what `to` actually gained.
    /// @param amountIn Input amount.
    /// @param amountOutMin Least output to accept (slippage bound).
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
    function swapExactTokensForTokensSupportingFeeOnTransferTokens(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external ensure(deadline) {
        _requirePath(path);
        IERC20(path[0]).safeTransferFrom(msg.sender, _pairFor(path[0], path[1]), amountIn);
        _swapAndCheckReceived(path, to, amountOutMin);
    }

    /// @notice swapExactETHForTokens for output tokens that take a fee on transfer (`amountOutMin` bounds what `to`
    /// actually gained).
    /// @param amountOutMin Least output to accept (slippage bound).
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
    function swapExactETHForTokensSupportingFeeOnTransferTokens(
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external payable ensure(deadline) {
        _requireWeth(path, false);
        _wrapTo(_pairFor(path[0], path[1]), msg.value);
        _swapAndCheckReceived(path, to, amountOutMin);
    }

    /// @notice swapExactTokensForETH for input tokens that take a fee on transfer: pays out all WETH the swap yields.
    /// @param amountIn Input amount.
    /// @param amountOutMin Least output to accept (slippage bound).
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @param to Receiver of the output.
    /// @param deadline Latest block timestamp at which the call may execute.
    function swapExactTokensForETHSupportingFeeOnTransferTokens(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external ensure(deadline) {
        _requireWeth(path, true);
        IERC20(path[0]).safeTransferFrom(msg.sender, _pairFor(path[0], path[1]), amountIn);
        _swapSupportingFeeOnTransferTokens(path, address(this));
        uint256 amountOut = IERC20(WETH).balanceOf(address(this));
        if (amountOut < amountOutMin) revert InsufficientOutputAmount(amountOut, amountOutMin);
        _unwrapTo(to, amountOut);
    }

    // ---- quotes ----------------------------------------------------------------------------------------------------

    /// @notice Amount of B worth `amountA` at the reserve ratio (no fee).
    /// @param amountA Amount of the first token.
    /// @param reserveA Reserve of the first token.
    /// @param reserveB Reserve of the second token.
    /// @return amountB The equivalent amount of the second token.
    function quote(uint256 amountA, uint256 reserveA, uint256 reserveB) public pure returns (uint256 amountB) {
        if (amountA == 0) revert InsufficientAmount(amountA);
        if (reserveA == 0 || reserveB == 0) revert InsufficientLiquidity(reserveA, reserveB);
        amountB = amountA * reserveB / reserveA;
    }

    /// @notice Uniswap V2's getAmountOut: output of swapping `amountIn` into a pool charging the default 30 bps fee.
    /// For a pool with another fee use getAmountOutWithFee (or getAmountsOut, which reads each pair's fee).
    /// @param amountIn Input amount.
    /// @param reserveIn Reserve of the input token.
    /// @param reserveOut Reserve of the output token.
    /// @return amountOut The output amount.
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut)
        public
        pure
        returns (uint256 amountOut)
    {
        amountOut = _getAmountOut(amountIn, reserveIn, reserveOut, DEFAULT_FEE_BPS);
    }

    /// @notice Uniswap V2's getAmountIn: smallest input that yields `amountOut` from a pool charging the default fee.
    /// For a pool with another fee use getAmountInWithFee (or getAmountsIn, which reads each pair's fee).
    /// @param amountOut Output amount.
    /// @param reserveIn Reserve of the input token.
    /// @param reserveOut Reserve of the output token.
    /// @return amountIn The input amount needed.
    function getAmountIn(uint256 amountOut, uint256 reserveIn, uint256 reserveOut)
        public
        pure
        returns (uint256 amountIn)
    {
        amountIn = _getAmountIn(amountOut, reserveIn, reserveOut, DEFAULT_FEE_BPS);
    }

    /// @notice Extension: getAmountOut for a pool charging `feeBps` basis points (below 10,000).
    /// @param amountIn Input amount.
    /// @param reserveIn Reserve of the input token.
    /// @param reserveOut Reserve of the output token.
    /// @param feeBps Swap fee in basis points.
    /// @return amountOut The output amount.
    function getAmountOutWithFee(uint256 amountIn, uint256 reserveIn, uint256 reserveOut, uint256 feeBps)
        external
        pure
        returns (uint256 amountOut)
    {
        if (feeBps >= FEE_DENOMINATOR) revert InvalidFee(feeBps);
        amountOut = _getAmountOut(amountIn, reserveIn, reserveOut, feeBps);
    }

    /// @notice Extension: getAmountIn for a pool charging `feeBps` basis points (below 10,000).
    /// @param amountOut Output amount.
    /// @param reserveIn Reserve of the input token.
    /// @param reserveOut Reserve of the output token.
    /// @param feeBps Swap fee in basis points.
    /// @return amountIn The input amount needed.
    function getAmountInWithFee(uint256 amountOut, uint256 reserveIn, uint256 reserveOut, uint256 feeBps)
        external
        pure
        returns (uint256 amountIn)
    {
        if (feeBps >= FEE_DENOMINATOR) revert InvalidFee(feeBps);
        amountIn = _getAmountIn(amountOut, reserveIn, reserveOut, feeBps);
    }

    /// @notice Amounts along `path` when swapping exactly `amountIn`, at each pair's reserves and fee.
    /// @param amountIn Input amount.
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @return amounts Amount entering each hop followed by the final output.
    function getAmountsOut(uint256 amountIn, address[] calldata path) public view returns (uint256[] memory amounts) {
        _requirePath(path);
        amounts = new uint256[](path.length);
        amounts[0] = amountIn;
        for (uint256 i; i < path.length - 1; i++) {
            address pair = _existingPair(path[i], path[i + 1]);
            (uint256 reserveIn, uint256 reserveOut) = _reserves(pair, path[i], path[i + 1]);
            amounts[i + 1] = _getAmountOut(amounts[i], reserveIn, reserveOut, Pair(pair).fee());
        }
    }

    /// @notice Amounts along `path` needed to receive exactly `amountOut`, at each pair's reserves and fee.
    /// @param amountOut Output amount.
    /// @param path Token route: path[0] in, path[path.length - 1] out.
    /// @return amounts Amount entering each hop followed by the final output.
    function getAmountsIn(uint256 amountOut, address[] calldata path) public view returns (uint256[] memory amounts) {
        _requirePath(path);
        amounts = new uint256[](path.length);
        amounts[amounts.length - 1] = amountOut;
        for (uint256 i = path.length - 1; i > 0; i--) {
            address pair = _existingPair(path[i - 1], path[i]);
            (uint256 reserveIn, uint256 reserveOut) = _reserves(pair, path[i - 1], path[i]);
            amounts[i - 1] = _getAmountIn(amounts[i], reserveIn, reserveOut, Pair(pair).fee());
        }
    }

    // ---- internals -------------------------------------------------------------------------------------------------

    function _getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut, uint256 feeBps)
        private
        pure
        returns (uint256 amountOut)
    {
        if (amountIn == 0) revert InsufficientAmount(amountIn);
        if (reserveIn == 0 || reserveOut == 0) revert InsufficientLiquidity(reserveIn, reserveOut);
        uint256 amountInWithFee = amountIn * (FEE_DENOMINATOR - feeBps);
        amountOut = amountInWithFee * reserveOut / (reserveIn * FEE_DENOMINATOR + amountInWithFee);
    }

    function _getAmountIn(uint256 amountOut, uint256 reserveIn, uint256 reserveOut, uint256 feeBps)
        private
        pure
        returns (uint256 amountIn)
    {
        if (amountOut == 0) revert InsufficientAmount(amountOut);
        if (reserveIn == 0 || reserveOut <= amountOut) revert InsufficientLiquidity(reserveIn, reserveOut);
        amountIn = reserveIn * amountOut * FEE_DENOMINATOR / ((reserveOut - amountOut) * (FEE_DENOMINATOR - feeBps)) + 1;
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
        (uint256 reserveA, uint256 reserveB) = _reserves(pair, tokenA, tokenB);
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
        address pair = _pairFor(tokenA, tokenB);
        IERC20(tokenA).safeTransferFrom(msg.sender, pair, amountA);
        IERC20(tokenB).safeTransferFrom(msg.sender, pair, amountB);
        liquidity = Pair(pair).mint(to);
    }

    function _permit(address pair, uint256 liquidity, uint256 deadline, bool approveMax, uint8 v, bytes32 r, bytes32 s)
        private
    {
        uint256 value = approveMax ? type(uint256).max : liquidity;
        Pair(pair).permit(msg.sender, address(this), value, deadline, v, r, s);
    }

    /// @dev Requires the first hop's input to be in its pair already.
    function _swap(uint256[] memory amounts, address[] calldata path, address _to) private {
        for (uint256 i; i < path.length - 1; i++) {
            (address input, address output) = (path[i], path[i + 1]);
            uint256 amountOut = amounts[i + 1];
            (uint256 amount0Out, uint256 amount1Out) = input < output ? (uint256(0), amountOut) : (amountOut, uint256(0));
            address to = i < path.length - 2 ? _pairFor(output, path[i + 2]) : _to;
            Pair(_pairFor(input, output)).swap(amount0Out, amount1Out, to, new bytes(0));
        }
    }

    /// @dev Like _swap, but each hop's input is what its pair received (balance - reserve), for fee-on-transfer tokens.
    function _swapSupportingFeeOnTransferTokens(address[] calldata path, address _to) private {
        for (uint256 i; i < path.length - 1; i++) {
            (address input, address output) = (path[i], path[i + 1]);
            address pair = _existingPair(input, output);
            uint256 amountOutput;
            {
                (uint256 reserveInput, uint256 reserveOutput) = _reserves(pair, input, output);
                uint256 amountInput = IERC20(input).balanceOf(pair) - reserveInput;
                amountOutput = _getAmountOut(amountInput, reserveInput, reserveOutput, Pair(pair).fee());
            }
            (uint256 amount0Out, uint256 amount1Out) =
                input < output ? (uint256(0), amountOutput) : (amountOutput, uint256(0));
            address to = i < path.length - 2 ? _pairFor(output, path[i + 2]) : _to;
            Pair(pair).swap(amount0Out, amount1Out, to, new bytes(0));
        }
    }

    function _swapAndCheckReceived(address[] calldata path, address to, uint256 amountOutMin) private {
        IERC20 output = IERC20(path[path.length - 1]);
        uint256 balanceBefore = output.balanceOf(to);
        _swapSupportingFeeOnTransferTokens(path, to);
        uint256 received = output.balanceOf(to) - balanceBefore;
        if (received < amountOutMin) revert InsufficientOutputAmount(received, amountOutMin);
    }

    function _wrapTo(address pair, uint256 amount) private {
        IWETH(WETH).deposit{value: amount}();
        IERC20(WETH).safeTransfer(pair, amount);
    }

    function _unwrapTo(address to, uint256 amount) private {
        IWETH(WETH).withdraw(amount);
        _sendETH(to, amount);
    }

    function _sendETH(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert EthTransferFailed(to, amount);
    }

    function _requirePath(address[] calldata path) private pure {
        if (path.length < 2) revert InvalidPath(path.length);
    }

    /// @dev The path has two tokens or more and WETH first (last = false) or last.
    function _requireWeth(address[] calldata path, bool last) private view {
        _requirePath(path);
        uint256 index = last ? path.length - 1 : 0;
        if (path[index] != WETH) revert PathNotWeth(index, path[index], WETH);
    }

    /// @dev CREATE2 address of the pair of two tokens (whether or not it exists), as UniswapV2Library.pairFor.
    function _pairFor(address tokenA, address tokenB) private view returns (address pair) {
        (address token0, address token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        pair = address(
            uint160(
                uint256(
                    keccak256(
                        abi.encodePacked(
                            hex"ff", address(factory), keccak256(abi.encodePacked(token0, token1)), pairInitCodeHash
                        )
                    )
                )
            )
        );
    }

    function _existingPair(address tokenA, address tokenB) private view returns (address pair) {
        pair = _pairFor(tokenA, tokenB);
        if (pair.code.length == 0) revert PairNotFound(tokenA, tokenB);
    }

    function _reserves(address pair, address tokenA, address tokenB)
        private
        view
        returns (uint256 reserveA, uint256 reserveB)
    {
        (uint112 reserve0, uint112 reserve1,) = Pair(pair).getReserves();
        (reserveA, reserveB) = tokenA < tokenB ? (reserve0, reserve1) : (reserve1, reserve0);
    }
}
