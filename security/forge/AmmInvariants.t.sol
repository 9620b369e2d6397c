// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InvariantSuite, Cheats} from "./Base.sol";
import {Factory} from "../../contracts/amm/Factory.sol";
import {Pair} from "../../contracts/amm/Pair.sol";
import {Router} from "../../contracts/amm/Router.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";

/// @dev Random mint / burn / swap / donate / skim / sync / flash-swap calls on one pair (fee on and off).
contract PairHandler is Cheats {
    Factory public immutable factory;
    Pair public immutable pair;
    TestToken public immutable token0;
    TestToken public immutable token1;
    /// @dev sqrt(k) * totalSupply-free ratio check: k after the last call, and whether k fell without a burn.
    uint256 public lastK;
    bool public kFellOnSwap;
    /// @dev Set if mint/burn/swap/sync ever left balances different from reserves, or a greedy swap succeeded.
    bool public reservesOffBalances;
    bool public greedySwapSucceeded;
    uint256 public calls;

    constructor() {
        factory = new Factory(address(this));
        TestToken a = new TestToken("A", "A", 18);
        TestToken b = new TestToken("B", "B", 18);
        pair = Pair(factory.createPair(address(a), address(b)));
        (token0, token1) = address(a) < address(b) ? (a, b) : (b, a);
        token0.mint(address(this), type(uint112).max);
        token1.mint(address(this), type(uint112).max);
    }

    function _k() internal view returns (uint256) {
        (uint112 r0, uint112 r1,) = pair.getReserves();
        return uint256(r0) * r1;
    }

    function _checkSynced() internal {
        (uint112 r0, uint112 r1,) = pair.getReserves();
        if (token0.balanceOf(address(pair)) != r0 || token1.balanceOf(address(pair)) != r1) reservesOffBalances = true;
    }

    function mint(uint256 a0, uint256 a1) external {
        a0 = bound(a0, 1e3, 1e27);
        a1 = bound(a1, 1e3, 1e27);
        token0.transfer(address(pair), a0);
        token1.transfer(address(pair), a1);
        try pair.mint(address(this)) {
            _checkSynced();
        } catch {
            pair.skim(address(this)); // too little liquidity: take the donation back
        }
        lastK = _k();
        calls++;
    }

    function burn(uint256 share) external {
        uint256 held = pair.balanceOf(address(this));
        if (held == 0) return;
        uint256 amount = bound(share, 1, held);
        pair.transfer(address(pair), amount);
        try pair.burn(address(this)) {
            _checkSynced();
        } catch {
            pair.skim(address(this));
            pair.transfer(address(this), 0);
        }
        lastK = _k();
        calls++;
    }

    /// @dev An exact-in swap at the Router's formula (the most a trader can take) or one unit more (must revert).
    function swap(uint256 amountIn, bool zeroForOne, bool greedy) external {
        (uint112 r0, uint112 r1,) = pair.getReserves();
        if (r0 == 0 || r1 == 0) return;
        (uint256 rin, uint256 rout) = zeroForOne ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        amountIn = bound(amountIn, 1, rin * 4 + 1);
        uint256 withFee = amountIn * (10_000 - pair.fee());
        uint256 out = withFee * rout / (rin * 10_000 + withFee);
        if (greedy) out += 1;
        if (out == 0 || out >= rout) return;
        uint256 kBefore = _k();
        // A pending donation (balance above reserve) counts as input, so "one unit more" is only greedy without one.
        bool synced = token0.balanceOf(address(pair)) == r0 && token1.balanceOf(address(pair)) == r1;
        (zeroForOne ? token0 : token1).transfer(address(pair), amountIn);
        try pair.swap(zeroForOne ? 0 : out, zeroForOne ? out : 0, address(this), "") {
            if (_k() < kBefore) kFellOnSwap = true;
            if (greedy && synced) greedySwapSucceeded = true;
            _checkSynced();
        } catch {
            pair.skim(address(this));
        }
        lastK = _k();
        calls++;
    }

    function donate(uint256 a0, uint256 a1) external {
        token0.transfer(address(pair), bound(a0, 0, 1e24));
        token1.transfer(address(pair), bound(a1, 0, 1e24));
        calls++;
    }

    function skim() external {
        pair.skim(address(this));
        calls++;
    }

    function sync() external {
        pair.sync();
        _checkSynced();
        lastK = _k();
        calls++;
    }

    function toggleProtocolFee(bool on) external {
        factory.setFeeTo(on ? address(0xFEE) : address(0));
        calls++;
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 1, 1 days));
    }
}

contract AmmInvariants is InvariantSuite {
    PairHandler internal handler;
    Pair internal pair;

    function setUp() public {
        handler = new PairHandler();
        pair = handler.pair();
        targetContract(address(handler));
    }

    /// After every call but a donation, reserves equal balances; a donation only ever adds (balance >= reserve).
    function invariant_reservesBackedByBalances() public view {
        (uint112 r0, uint112 r1,) = pair.getReserves();
        require(handler.token0().balanceOf(address(pair)) >= r0, "token0 balance < reserve0");
        require(handler.token1().balanceOf(address(pair)) >= r1, "token1 balance < reserve1");
    }

    /// skim makes balances equal reserves exactly (checked on a copy: the invariant call's changes are discarded).
    function invariant_skimRestoresEquality() public {
        pair.skim(address(this));
        (uint112 r0, uint112 r1,) = pair.getReserves();
        require(handler.token0().balanceOf(address(pair)) == r0, "reserve0 != balance0 after skim");
        require(handler.token1().balanceOf(address(pair)) == r1, "reserve1 != balance1 after skim");
    }

    /// A swap never lowers k = reserve0 * reserve1 (the fee stays in the pool).
    function invariant_swapNeverLowersK() public view {
        require(!handler.kFellOnSwap(), "a swap lowered reserve0 * reserve1");
    }

    /// mint, burn, swap and sync leave reserves equal to balances; one unit more than the formula's output reverts.
    function invariant_reservesEqualBalancesAfterEachCall() public view {
        require(!handler.reservesOffBalances(), "reserves differ from balances after mint/burn/swap/sync");
        require(!handler.greedySwapSucceeded(), "a swap took more than the fee-adjusted constant-product output");
    }

    /// MINIMUM_LIQUIDITY is locked forever once the pool exists, and LP supply is backed by both reserves.
    function invariant_lpSupply() public view {
        uint256 supply = pair.totalSupply();
        (uint112 r0, uint112 r1,) = pair.getReserves();
        // Before the first mint, a donation plus sync() may set reserves with no LP supply (as in Uniswap V2): the
        // donation then belongs to the first minter's pool, nothing to check yet.
        if (supply == 0) return;
        require(pair.balanceOf(address(0xdead)) == pair.MINIMUM_LIQUIDITY(), "locked liquidity moved");
        require(supply >= pair.MINIMUM_LIQUIDITY(), "supply below MINIMUM_LIQUIDITY");
        require(r0 > 0 && r1 > 0, "LP supply without reserves");
        // sqrt(k) >= supply could fail only if value leaked; with the first mint's sqrt(a0*a1) it holds exactly.
        require(_sqrt(uint256(r0) * r1) >= supply, "sqrt(k) < LP supply: value leaked from LPs");
    }

    function _sqrt(uint256 x) internal pure returns (uint256 y) {
        if (x == 0) return 0;
        uint256 z = (x + 1) / 2;
        y = x;
        while (z < y) {
            y = z;
            z = (x / z + z) / 2;
        }
    }
}

/// @dev Router.getAmountOut (the formula traders and the Router use) against Pair.swap's fee-adjusted k check.
contract AmmFormulaFuzz {
    uint256 internal constant FEE_DENOMINATOR = 10_000;
    Router internal router;

    function setUp() public {
        router = new Router(Factory(address(0)), address(0));
    }

    /// For every input and fee up to 10 %: a swap paying exactly Router.getAmountOut passes the pair's
    /// fee-adjusted check, so k never falls (it rises by at least the fee); full uint112 width, fuzzed.
    function testFuzz_amountOutNeverLowersK(uint112 amountIn, uint112 reserveIn, uint112 reserveOut, uint16 feeBps)
        public
        view
    {
        feeBps = uint16(feeBps % 1_001);
        if (amountIn == 0 || reserveIn == 0 || reserveOut == 0) return;
        uint256 out = router.getAmountOutWithFee(amountIn, reserveIn, reserveOut, feeBps);
        assert(out < reserveOut);
        uint256 balanceIn = uint256(reserveIn) + amountIn;
        uint256 balanceOut = uint256(reserveOut) - out;
        // Pair.swap's condition: (balanceIn * D - amountIn * fee) * (balanceOut * D) >= reserveIn * reserveOut * D^2
        assert((balanceIn * FEE_DENOMINATOR - uint256(amountIn) * feeBps) * balanceOut
            >= uint256(reserveIn) * reserveOut * FEE_DENOMINATOR);
        assert(balanceIn * balanceOut >= uint256(reserveIn) * reserveOut);
    }
}
