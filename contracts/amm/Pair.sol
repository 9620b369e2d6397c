// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @notice Receiver of a flash swap: called by the pair between sending the output and checking repayment.
interface IUniswapV2Callee {
    /// @notice Called by a pair during swap() when `data` is non-empty; must repay the pair before returning.
    /// @param sender The account that called swap on the pair.
    /// @param amount0 token0 sent out by the pair.
    /// @param amount1 token1 sent out by the pair.
    /// @param data The swap's callback data.
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data) external;
}

/// @notice What a pair asks its factory while being constructed (tokens, fee) and later (protocol fee receiver).
interface IPairDeployer {
    /// @notice Parameters of the pair being deployed in the current transaction.
    /// @return token0 The lower-address token.
    /// @return token1 The higher-address token.
    /// @return feeBps The swap fee in basis points.
    function pairParameters() external view returns (address token0, address token1, uint16 feeBps);
    /// @notice Receiver of the protocol fee (1/6 of LP fee growth); zero turns the protocol fee off.
    /// @return The protocol fee receiver.
    function feeTo() external view returns (address);
}

/// @title Constant-product pool with the Uniswap V2 pair interface and semantics and a per-pool swap fee.
/// @notice Tokens are sent to the pair before mint/swap; the pair measures what arrived (balance - reserve).
/// The LP token is an OpenZeppelin ERC20 (with EIP-2612 permit); MINIMUM_LIQUIDITY is locked at 0xdead because
/// OpenZeppelin ERC20 refuses to mint to address(0).
contract Pair is ERC20Permit, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice LP tokens locked forever by the first mint, so the share price can never be driven to zero.
    uint256 public constant MINIMUM_LIQUIDITY = 10 ** 3;
    /// @notice Basis-point denominator of `fee`.
    uint256 public constant FEE_DENOMINATOR = 10_000;
    address private constant LOCKED_LIQUIDITY_HOLDER = address(0xdead);

    /// @notice The factory that created this pair.
    address public immutable factory;
    /// @notice The token with the lower address.
    address public immutable token0;
    /// @notice The token with the higher address.
    address public immutable token1;
    /// @notice Swap fee charged on the input amount, in basis points (30 = 0.30 %).
    uint16 public immutable fee;

    uint112 private reserve0;
    uint112 private reserve1;
    uint32 private blockTimestampLast;

    /// @notice Sum over time of token1/token0 price as UQ112x112 times seconds (wraps, as in Uniswap V2).
    uint256 public price0CumulativeLast;
    /// @notice Sum over time of token0/token1 price as UQ112x112 times seconds (wraps, as in Uniswap V2).
    uint256 public price1CumulativeLast;
    /// @notice reserve0 * reserve1 right after the latest liquidity event (only kept while the protocol fee is on).
    uint256 public kLast;

    event Mint(address indexed sender, uint256 amount0, uint256 amount1);
    event Burn(address indexed sender, uint256 amount0, uint256 amount1, address indexed to);
    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );
    event Sync(uint112 reserve0, uint112 reserve1);

    error InsufficientLiquidityMinted(uint256 amount0, uint256 amount1, uint256 liquidity);
    error InsufficientLiquidityBurned(uint256 liquidity, uint256 amount0, uint256 amount1);
    error InsufficientOutputAmount(uint256 amount0Out, uint256 amount1Out);
    error InsufficientLiquidity(uint256 amount0Out, uint256 amount1Out, uint112 reserve0, uint112 reserve1);
    error InvalidTo(address to);
    error InsufficientInputAmount(uint256 amount0In, uint256 amount1In);
    error InvariantViolated(uint256 adjustedProduct, uint256 requiredProduct);
    error BalanceOverflow(uint256 balance0, uint256 balance1);

    /// @notice Reads (token0, token1, fee) from the deploying factory so the init code (and CREATE2 address) is constant.
    constructor() ERC20("", "") ERC20Permit("MarketSim AMM LP") {
        factory = msg.sender;
        (token0, token1, fee) = IPairDeployer(msg.sender).pairParameters();
    }

    /// @notice LP token name.
    /// @return The name.
    function name() public pure override returns (string memory) {
        return "MarketSim AMM LP";
    }

    /// @notice LP token symbol.
    /// @return The symbol.
    function symbol() public pure override returns (string memory) {
        return "MSAMM-LP";
    }

    /// @notice Reserves as of the last _update and the block timestamp (mod 2**32) of that update.
    /// @return _reserve0 Reserve of token0.
    /// @return _reserve1 Reserve of token1.
    /// @return _blockTimestampLast Timestamp (mod 2**32) of the last update.
    function getReserves() public view returns (uint112 _reserve0, uint112 _reserve1, uint32 _blockTimestampLast) {
        _reserve0 = reserve0;
        _reserve1 = reserve1;
        _blockTimestampLast = blockTimestampLast;
    }

    /// @notice Mints LP tokens to `to` for the tokens sent to the pair since the last update.
    /// @param to Receiver of the minted tokens.
    /// @return liquidity LP tokens minted.
    function mint(address to) external nonReentrant returns (uint256 liquidity) {
        (uint112 _reserve0, uint112 _reserve1,) = getReserves();
        uint256 balance0 = IERC20(token0).balanceOf(address(this));
        uint256 balance1 = IERC20(token1).balanceOf(address(this));
        uint256 amount0 = balance0 - _reserve0;
        uint256 amount1 = balance1 - _reserve1;

        bool feeOn = _mintFee(_reserve0, _reserve1);
        uint256 _totalSupply = totalSupply(); // after _mintFee, which may have minted
        if (_totalSupply == 0) {
            liquidity = Math.sqrt(amount0 * amount1) - MINIMUM_LIQUIDITY;
            _mint(LOCKED_LIQUIDITY_HOLDER, MINIMUM_LIQUIDITY);
        } else {
            liquidity = Math.min(amount0 * _totalSupply / _reserve0, amount1 * _totalSupply / _reserve1);
        }
        if (liquidity == 0) revert InsufficientLiquidityMinted(amount0, amount1, liquidity);
        _mint(to, liquidity);

        _update(balance0, balance1, _reserve0, _reserve1);
        if (feeOn) kLast = uint256(reserve0) * reserve1;
        emit Mint(msg.sender, amount0, amount1);
    }

    /// @notice Burns the LP tokens sent to the pair and sends the matching share of both reserves to `to`.
    /// @param to Receiver of both tokens.
    /// @return amount0 token0 sent.
    /// @return amount1 token1 sent.
    function burn(address to) external nonReentrant returns (uint256 amount0, uint256 amount1) {
        (uint112 _reserve0, uint112 _reserve1,) = getReserves();
        address _token0 = token0;
        address _token1 = token1;
        uint256 balance0 = IERC20(_token0).balanceOf(address(this));
        uint256 balance1 = IERC20(_token1).balanceOf(address(this));
        uint256 liquidity = balanceOf(address(this));

        bool feeOn = _mintFee(_reserve0, _reserve1);
        uint256 _totalSupply = totalSupply();
        amount0 = liquidity * balance0 / _totalSupply; // pro rata on balances, as Uniswap V2
        amount1 = liquidity * balance1 / _totalSupply;
        if (amount0 == 0 || amount1 == 0) revert InsufficientLiquidityBurned(liquidity, amount0, amount1);
        _burn(address(this), liquidity);
        IERC20(_token0).safeTransfer(to, amount0);
        IERC20(_token1).safeTransfer(to, amount1);
        balance0 = IERC20(_token0).balanceOf(address(this));
        balance1 = IERC20(_token1).balanceOf(address(this));

        _update(balance0, balance1, _reserve0, _reserve1);
        if (feeOn) kLast = uint256(reserve0) * reserve1;
        emit Burn(msg.sender, amount0, amount1, to);
    }

    /// @notice Sends the requested outputs to `to`, optionally calls `to.uniswapV2Call` (flash swap), then requires
    /// that the fee-adjusted product of balances is at least the product of reserves.
    /// @param amount0Out token0 to send to `to`.
    /// @param amount1Out token1 to send to `to`.
    /// @param to Receiver of the outputs.
    /// @param data Non-empty: passed to `to.uniswapV2Call` (flash swap).
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external nonReentrant {
        if (amount0Out == 0 && amount1Out == 0) revert InsufficientOutputAmount(amount0Out, amount1Out);
        (uint112 _reserve0, uint112 _reserve1,) = getReserves();
        if (amount0Out >= _reserve0 || amount1Out >= _reserve1) {
            revert InsufficientLiquidity(amount0Out, amount1Out, _reserve0, _reserve1);
        }

        uint256 balance0;
        uint256 balance1;
        {
            address _token0 = token0;
            address _token1 = token1;
            if (to == _token0 || to == _token1) revert InvalidTo(to);
            if (amount0Out > 0) IERC20(_token0).safeTransfer(to, amount0Out); // optimistic transfer
            if (amount1Out > 0) IERC20(_token1).safeTransfer(to, amount1Out);
            if (data.length > 0) IUniswapV2Callee(to).uniswapV2Call(msg.sender, amount0Out, amount1Out, data);
            balance0 = IERC20(_token0).balanceOf(address(this));
            balance1 = IERC20(_token1).balanceOf(address(this));
        }
        uint256 amount0In = balance0 > _reserve0 - amount0Out ? balance0 - (_reserve0 - amount0Out) : 0;
        uint256 amount1In = balance1 > _reserve1 - amount1Out ? balance1 - (_reserve1 - amount1Out) : 0;
        if (amount0In == 0 && amount1In == 0) revert InsufficientInputAmount(amount0In, amount1In);
        {
            uint256 _fee = fee;
            uint256 adjusted = (balance0 * FEE_DENOMINATOR - amount0In * _fee)
                * (balance1 * FEE_DENOMINATOR - amount1In * _fee);
            uint256 required = uint256(_reserve0) * _reserve1 * (FEE_DENOMINATOR * FEE_DENOMINATOR);
            if (adjusted < required) revert InvariantViolated(adjusted, required);
        }

        _update(balance0, balance1, _reserve0, _reserve1);
        emit Swap(msg.sender, amount0In, amount1In, amount0Out, amount1Out, to);
    }

    /// @notice Sends any balance above the reserves to `to`, making balances equal reserves.
    /// @param to Receiver of the excess.
    function skim(address to) external nonReentrant {
        address _token0 = token0;
        address _token1 = token1;
        IERC20(_token0).safeTransfer(to, IERC20(_token0).balanceOf(address(this)) - reserve0);
        IERC20(_token1).safeTransfer(to, IERC20(_token1).balanceOf(address(this)) - reserve1);
    }

    /// @notice Sets the reserves to the current balances.
    function sync() external nonReentrant {
        _update(
            IERC20(token0).balanceOf(address(this)), IERC20(token1).balanceOf(address(this)), reserve0, reserve1
        );
    }

    /// @dev The only writer of reserves: stores balances as reserves and accrues the price accumulators once per block.
    function _update(uint256 balance0, uint256 balance1, uint112 _reserve0, uint112 _reserve1) private {
        if (balance0 > type(uint112).max || balance1 > type(uint112).max) revert BalanceOverflow(balance0, balance1);
        uint32 blockTimestamp = uint32(block.timestamp); // mod 2**32 by design
        unchecked {
            uint32 timeElapsed = blockTimestamp - blockTimestampLast; // overflow is desired
            if (timeElapsed > 0 && _reserve0 != 0 && _reserve1 != 0) {
                // UQ112x112 prices; the accumulators are meant to wrap (compared by difference).
                price0CumulativeLast += ((uint256(_reserve1) << 112) / _reserve0) * timeElapsed;
                price1CumulativeLast += ((uint256(_reserve0) << 112) / _reserve1) * timeElapsed;
            }
        }
        reserve0 = uint112(balance0);
        reserve1 = uint112(balance1);
        blockTimestampLast = blockTimestamp;
        emit Sync(reserve0, reserve1);
    }

    /// @dev Mints the protocol's 1/6 share of the growth in sqrt(k) since the last liquidity event, as Uniswap V2.
    function _mintFee(uint112 _reserve0, uint112 _reserve1) private returns (bool feeOn) {
        address feeTo = IPairDeployer(factory).feeTo();
        feeOn = feeTo != address(0);
        uint256 _kLast = kLast;
        if (feeOn) {
            if (_kLast != 0) {
                uint256 rootK = Math.sqrt(uint256(_reserve0) * _reserve1);
                uint256 rootKLast = Math.sqrt(_kLast);
                if (rootK > rootKLast) {
                    uint256 liquidity = totalSupply() * (rootK - rootKLast) / (rootK * 5 + rootKLast);
                    if (liquidity > 0) _mint(feeTo, liquidity);
                }
            }
        } else if (_kLast != 0) {
            kLast = 0;
        }
    }
}
