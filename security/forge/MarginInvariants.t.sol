// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InvariantSuite, Cheats} from "./Base.sol";
import {Settlement} from "../../contracts/settlement/Settlement.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";

/// @dev Issue 16: lenders lend and leave pools, traders deposit (repaying a debt first) and withdraw, and certified
/// margin batches sell the base token short (the balance goes negative: borrowed from the pool), cover and repay
/// with fees, or buy on margin (the quote balance goes negative), at random marks (some batches are refused:
/// BelowMaintenance, PoolExhausted); spot batches (`settle`) trade base for quote and are refused whenever any pool
/// has debt outstanding (SpotBatchWithDebt).
contract MarginHandler is Cheats {
    uint256 internal constant ACCOUNTS = 4; // 0, 1 trade on margin; 2 is the market maker; 3 lends
    uint64 internal constant MAX_VALIDITY = 8;

    Settlement public immutable settlement;
    TestToken[2] public tokens;
    address[ACCOUNTS] public accounts;
    uint256 public settled;
    uint256 public refusedBelowMaintenance;
    uint256 public spotSettled;
    uint256 public spotRefusedWithDebt;
    bool public spotSettledWithDebt; // a spot batch settled while a pool had debt outstanding
    bool public spotRefusedWrongly; // a spot batch with debt outstanding reverted with another reason
    bytes public lastSpotRevert;
    uint256 internal _nonce;

    constructor() {
        address[] memory validators = new address[](3);
        for (uint256 i = 0; i < 3; ++i) validators[i] = vm.addr(i + 1);
        settlement = new Settlement(address(this), validators, 2, address(0xFEE), MAX_VALIDITY);
        vm.roll(100);
        for (uint256 t = 0; t < 2; ++t) {
            tokens[t] = new TestToken("T", "T", 18);
            settlement.listToken(address(tokens[t]));
            settlement.setMaintenance(address(tokens[t]), 3000);
        }
        for (uint256 a = 0; a < ACCOUNTS; ++a) {
            accounts[a] = address(uint160(0xB000 + a));
            for (uint256 t = 0; t < 2; ++t) {
                tokens[t].mint(accounts[a], 1e30);
                vm.prank(accounts[a]);
                tokens[t].approve(address(settlement), type(uint256).max);
            }
        }
    }

    function accountCount() external pure returns (uint256) {
        return ACCOUNTS;
    }

    function deposit(uint256 who, uint256 token, uint256 amount) external {
        vm.prank(accounts[who % ACCOUNTS]);
        try settlement.deposit(address(tokens[token % 2]), bound(amount, 1, 1e21)) {} catch {}
    }

    function lend(uint256 token, uint256 amount) external {
        vm.prank(accounts[3]);
        try settlement.lend(address(tokens[token % 2]), bound(amount, 1, 1e21)) {} catch {}
    }

    function exitPool(uint256 token, uint256 shares) external {
        address t = address(tokens[token % 2]);
        uint256 held = settlement.poolShares(accounts[3], token % 2 + 1);
        vm.startPrank(accounts[3]);
        if (held > 0) try settlement.requestPoolExit(t, bound(shares, 1, held)) {} catch {}
        vm.roll(block.number + MAX_VALIDITY);
        try settlement.claimPoolExit(t) {} catch {}
        vm.stopPrank();
    }

    function withdraw(uint256 who, uint256 token, uint256 amount) external {
        address account = accounts[who % ACCOUNTS];
        address t = address(tokens[token % 2]);
        uint256 balance = settlement.balanceOf(account, t);
        vm.startPrank(account);
        try settlement.requestWithdrawal(t, bound(amount, 1, balance + 1)) {} catch {}
        vm.roll(block.number + MAX_VALIDITY);
        try settlement.claimWithdrawal(t) {} catch {}
        vm.stopPrank();
    }

    /// @dev Trader `who` sells `qty` base it borrows (short) or buys `qty` base with quote it borrows (long), to or
    /// from the market maker at `price`, marked at `mark`; `cover` buys back and repays instead, with a fee.
    function marginTrade(uint256 who, uint256 kind, uint256 qty, uint256 price, uint256 mark, uint256 fee) external {
        address trader = accounts[who % 2];
        address maker = accounts[2];
        qty = bound(qty, 1, 1e20);
        price = bound(price, 1, 20);
        uint256 value = qty * price;
        bytes memory deltas;
        kind = kind % 3;
        if (kind == 0) { // short: sell base (below zero: borrowed from the pool), receive quote
            deltas = abi.encodePacked(_trade(maker, int256(qty), -int256(value)), _trade(trader, -int256(qty),
                int256(value)));
        } else if (kind == 1) { // long: buy base with quote (below zero: borrowed)
            deltas = abi.encodePacked(_trade(trader, int256(qty), -int256(value)), _trade(maker, -int256(qty),
                int256(value)));
        } else { // cover a short: buy back at most the debt plus this batch's fee, which is debited after
            fee = bound(fee, 0, 1e18);
            uint256 debt = settlement.debtOf(trader, address(tokens[0])) + fee;
            if (debt == 0) return;
            qty = bound(qty, 1, debt);
            value = qty * price;
            deltas = abi.encodePacked(_group(trader, 3), _entry(0, 1, int256(qty)), _entry(1, 1, int256(fee)),
                _entry(0, 2, -int256(value)), _trade(maker, -int256(qty), int256(value)));
        }
        uint256[] memory marks = new uint256[](2);
        marks[0] = bound(mark, 1, 40);
        marks[1] = 1;
        _settle(deltas, marks);
    }

    /// @dev A spot batch (`settle`): trader `who` (0, 1, or the lender 3) buys (`sell` false) or sells `qty` base
    /// to or from the market maker at `price`. While any pool has debt it must revert with
    /// SpotBatchWithDebt(first token with debt, its borrowed) and change nothing.
    function spotTrade(uint256 who, bool sell, uint256 qty, uint256 price) external {
        address trader = accounts[who % 3 == 2 ? 3 : who % 3];
        address maker = accounts[2];
        qty = bound(qty, 1, 1e20);
        uint256 value = qty * bound(price, 1, 20);
        (address buyer, address seller) = sell ? (maker, trader) : (trader, maker);
        bytes memory deltas = abi.encodePacked(_trade(buyer, int256(qty), -int256(value)),
            _trade(seller, -int256(qty), int256(value)));
        uint256 tradeCount = ++_nonce;
        uint64 stateBlock = uint64(block.number - 1);
        Settlement.BatchHeader memory batch = Settlement.BatchHeader({
            sequence: settlement.lastSequence() + 1,
            prevHash: settlement.lastBatchHash(),
            merkleRoot: settlement.deltasLeaf(tradeCount, deltas),
            stateBlock: stateBlock,
            expiresAt: stateBlock + MAX_VALIDITY
        });
        bytes memory signatures = _sign(settlement.batchDigest(batch));
        bytes memory expected;
        for (uint256 t = 0; t < 2; ++t) {
            (, uint128 borrowed,) = settlement.pool(t + 1);
            if (borrowed != 0) {
                expected = abi.encodeWithSelector(Settlement.SpotBatchWithDebt.selector, address(tokens[t]), borrowed);
                break;
            }
        }
        uint64 sequence = settlement.lastSequence();
        try settlement.settle(batch, new Settlement.BatchHeader[](0), tradeCount, deltas, new bytes32[](0), signatures) {
            spotSettled++;
            if (expected.length != 0) spotSettledWithDebt = true;
        } catch (bytes memory reason) {
            if (expected.length != 0) {
                spotRefusedWithDebt++;
                lastSpotRevert = reason;
                if (keccak256(reason) != keccak256(expected) || settlement.lastSequence() != sequence) {
                    spotRefusedWrongly = true;
                }
            }
        }
        vm.roll(block.number + 1);
    }

    /// @dev An account's group of base and quote balance changes (kind 0).
    function _trade(address account, int256 base, int256 quote) internal pure returns (bytes memory) {
        return abi.encodePacked(_group(account, 2), _entry(0, 1, base), _entry(0, 2, quote));
    }

    function _group(address account, uint256 count) internal pure returns (uint256) {
        return (uint256(uint160(account)) << 96) | count;
    }

    /// @dev kind 0 signed balance change, 1 fee; token index 1 base, 2 quote.
    function _entry(uint256 kind, uint256 index, int256 value) internal pure returns (uint256) {
        return (kind << 248) | (index << 128) | uint256(uint128(int128(value)));
    }

    function _settle(bytes memory deltas, uint256[] memory marks) internal {
        Settlement.MarginBatch memory m = Settlement.MarginBatch(++_nonce, deltas, marks, new address[](0));
        uint64 stateBlock = uint64(block.number - 1);
        Settlement.BatchHeader memory batch = Settlement.BatchHeader({
            sequence: settlement.lastSequence() + 1,
            prevHash: settlement.lastBatchHash(),
            merkleRoot: settlement.marginLeaf(m),
            stateBlock: stateBlock,
            expiresAt: stateBlock + MAX_VALIDITY
        });
        bytes memory signatures = _sign(settlement.batchDigest(batch));
        try settlement.settleMargin(batch, new Settlement.BatchHeader[](0), m, new bytes32[](0), signatures) {
            settled++;
        } catch (bytes memory reason) {
            if (bytes4(reason) == Settlement.BelowMaintenance.selector) refusedBelowMaintenance++;
        }
        vm.roll(block.number + 1);
    }

    /// @dev Two of the three validators, ascending by address.
    function _sign(bytes32 digest) internal pure returns (bytes memory) {
        (uint256 k1, uint256 k2) = vm.addr(1) < vm.addr(2) ? (uint256(1), uint256(2)) : (uint256(2), uint256(1));
        (uint8 v1, bytes32 r1, bytes32 s1) = vm.sign(k1, digest);
        (uint8 v2, bytes32 r2, bytes32 s2) = vm.sign(k2, digest);
        return abi.encodePacked(r1, s1, v1, r2, s2, v2);
    }
}

contract MarginInvariants is InvariantSuite {
    MarginHandler internal handler;
    Settlement internal settlement;

    function setUp() public {
        handler = new MarginHandler();
        settlement = handler.settlement();
        targetContract(address(handler));
    }

    /// The handler's margin batches do settle (and are refused below maintenance): the suite is not vacuous.
    function test_handlerSettlesAShortAndRefusesItBelowMaintenance() public {
        handler.lend(0, 1e20);
        handler.deposit(0, 1, 5e20);
        handler.deposit(2, 0, 5e20);
        handler.deposit(2, 1, 5e20);
        handler.marginTrade(0, 0, 1e19, 5, 5, 0); // short 1e19 + 1 at 6, marked 6: 7.8e19 required, 5.6e20 held
        require(handler.settled() == 1, "short did not settle");
        handler.marginTrade(0, 0, 1e18, 5, 39, 0); // marked at 40: 1.1e19 * 40 * 1.3 = 5.72e20 > 5.66e20 held
        require(handler.refusedBelowMaintenance() == 1 && handler.settled() == 1, "not refused below maintenance");
        handler.marginTrade(0, 2, 1e19, 5, 5, 1e17); // cover it (1e19 + 1) with a 1e17 fee
        require(handler.settled() == 2, "cover did not settle");
    }

    /// A spot batch is refused while a debt is outstanding, with SpotBatchWithDebt(token, borrowed) and no change;
    /// repaid (every pool's borrowed back to 0), spot batches settle again.
    function test_spotBatchWithDebtOutstandingReverts() public {
        handler.lend(0, 1e20);
        handler.deposit(0, 1, 5e20);
        handler.deposit(2, 0, 5e20);
        handler.deposit(2, 1, 5e20);
        handler.spotTrade(0, false, 1e18, 5); // no debt yet: trader 0 buys 1e18 + 1 base at 6
        require(handler.spotSettled() == 1, "spot batch without debt did not settle");
        handler.marginTrade(0, 0, 1e19, 5, 5, 0); // short 1e19 + 1: trader 0 sold 1e18 more base than it held
        require(handler.settled() == 1, "short did not settle");
        (, uint128 borrowed,) = settlement.pool(1);
        require(borrowed == 9e18, "short did not borrow");
        address trader = handler.accounts(0);
        address base = address(handler.tokens(0));
        address quote = address(handler.tokens(1));
        uint256 quoteBefore = settlement.balanceOf(trader, quote);
        uint64 sequence = settlement.lastSequence();
        handler.spotTrade(0, false, 1e18, 5); // would spend the indebted trader's quote (its collateral)
        handler.spotTrade(2, true, 1e18, 5); // the lender, no debt of its own: refused all the same
        require(handler.spotRefusedWithDebt() == 2 && handler.spotSettled() == 1, "spot batch with debt settled");
        require(!handler.spotRefusedWrongly(), "wrong revert reason or state changed");
        require(keccak256(handler.lastSpotRevert())
            == keccak256(abi.encodeWithSelector(Settlement.SpotBatchWithDebt.selector, base, uint256(9e18))), "reason");
        require(settlement.lastSequence() == sequence && settlement.balanceOf(trader, quote) == quoteBefore, "moved");
        handler.deposit(0, 0, 9e18 - 1); // bound(x, 1, 1e21) = 1 + x: repays the whole debt
        (, borrowed,) = settlement.pool(1);
        require(borrowed == 0 && settlement.signedBalanceOf(trader, base) == 0, "debt not repaid");
        handler.spotTrade(0, false, 1e18, 5);
        require(handler.spotSettled() == 2 && settlement.lastSequence() == sequence + 1, "spot batch not accepted again");
    }

    /// No spot batch ever settles while a pool has debt outstanding, and every such refusal is SpotBatchWithDebt
    /// naming the first token with debt and its borrowed, with nothing changed.
    function invariant_noSpotBatchWhileDebtOutstanding() public view {
        require(!handler.spotSettledWithDebt(), "a spot batch settled with debt outstanding");
        require(!handler.spotRefusedWrongly(), "a spot batch with debt was refused with another reason");
    }

    /// Custody never goes negative: for each token, every positive balance plus the pool's cash (all that accounts
    /// and lenders can ever withdraw) equals the tokens the contract holds.
    function invariant_custodyCoversBalancesAndPoolCash() public view {
        for (uint256 t = 0; t < 2; ++t) {
            address token = address(handler.tokens(t));
            (uint128 cash,,) = settlement.pool(t + 1);
            uint256 sum = cash;
            for (uint256 a = 0; a < handler.accountCount(); ++a) {
                sum += settlement.balanceOf(handler.accounts(a), token);
            }
            require(sum == handler.tokens(t).balanceOf(address(settlement)), "balances + pool cash != tokens held");
        }
    }

    /// The pool's outstanding debt is the sum of every account's debt (the negative balances); lenders' shares
    /// never claim more than it holds plus what it is owed; an account owing a token holds none of it.
    function invariant_poolBorrowedIsTheSumOfDebts() public view {
        for (uint256 t = 0; t < 2; ++t) {
            address token = address(handler.tokens(t));
            (uint128 cash, uint128 borrowed, uint256 shares) = settlement.pool(t + 1);
            uint256 debts;
            for (uint256 a = 0; a < handler.accountCount(); ++a) {
                address account = handler.accounts(a);
                int256 signed = settlement.signedBalanceOf(account, token);
                uint256 debt = settlement.debtOf(account, token);
                require(debt == (signed < 0 ? uint256(-signed) : 0), "debtOf != max(0, -signed balance)");
                require(settlement.balanceOf(account, token) == (signed > 0 ? uint256(signed) : 0), "balanceOf");
                require(settlement.hasDebt(account) || debt == 0, "hasDebt misses a debt");
                debts += debt;
            }
            require(debts == borrowed, "pool borrowed != sum of debts");
            uint256 lent = settlement.poolShares(handler.accounts(3), t + 1);
            require(lent == shares, "lender shares != pool shares");
            require(shares == 0 || lent * (uint256(cash) + borrowed) / shares <= uint256(cash) + borrowed, "claims > assets");
        }
    }
}
