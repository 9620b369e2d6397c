// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InvariantSuite, Cheats} from "./Base.sol";
import {Settlement} from "../../contracts/settlement/Settlement.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";

/// @dev Deposits, two-phase withdrawals (requests, claims), certified batches signed by random subsets of known
/// validator keys (some not registered), expired certificates, honest batches certified now and settled later or
/// skipped after their expiry, blocks passing, and governance changes of the validator set and threshold.
contract SettlementHandler is Cheats {
    uint256 internal constant KEYS = 6; // keys 1..6; 1..4 registered at start
    uint256 internal constant ACCOUNTS = 3;
    uint64 internal constant MAX_VALIDITY = 8;

    Settlement public immutable settlement;
    TestToken[2] public tokens;
    address[ACCOUNTS] public accounts;

    /// @dev Ghosts: the highest sequence ever observed, and any settled batch that lacked a current quorum.
    uint64 public maxSequenceSeen;
    bool public sequenceWentBack;
    bool public settledWithoutQuorum;
    bool public settledTwice;
    uint256 public settledBatches;
    uint256 public skippedBatches;
    bool public settledExpired;        // a certificate settled after its expiresAt
    bool public skipChangedBalances;   // settling an empty batch over skipped ones moved a balance
    bool public certifiedInsolvent;    // an honest certified batch, still valid and next in line, was insolvent
    mapping(bytes32 => bool) internal _settledRoots;

    /// @dev An honest batch certified (against the balances at its stateBlock, requested withdrawals unavailable)
    /// and not sent yet: settled later by `settlePending`, or skipped after it expired by `skipPending`.
    bool public hasPending;
    Settlement.BatchHeader internal _pending;
    bytes internal _pendingDeltas;
    bytes internal _pendingSignatures;
    uint256 internal _pendingTradeCount;

    constructor() {
        address[] memory validators = new address[](4);
        for (uint256 i = 0; i < 4; ++i) validators[i] = vm.addr(i + 1);
        settlement = new Settlement(address(this), validators, 3, address(0xFEE), MAX_VALIDITY);
        vm.roll(100);
        for (uint256 t = 0; t < 2; ++t) {
            tokens[t] = new TestToken("T", "T", 18);
            settlement.listToken(address(tokens[t]));
        }
        for (uint256 a = 0; a < ACCOUNTS; ++a) {
            accounts[a] = address(uint160(0xA000 + a));
            for (uint256 t = 0; t < 2; ++t) {
                tokens[t].mint(accounts[a], 1e30);
                vm.prank(accounts[a]);
                tokens[t].approve(address(settlement), type(uint256).max);
            }
        }
    }

    function tokenCount() external pure returns (uint256) {
        return 2;
    }

    function accountCount() external pure returns (uint256) {
        return ACCOUNTS;
    }

    function deposit(uint256 who, uint256 token, uint256 amount) external {
        address account = accounts[who % ACCOUNTS];
        vm.prank(account);
        try settlement.deposit(address(tokens[token % 2]), bound(amount, 1, 1e24)) {} catch {}
        _observe();
    }

    function requestWithdrawal(uint256 who, uint256 token, uint256 amount) external {
        address account = accounts[who % ACCOUNTS];
        address t = address(tokens[token % 2]);
        uint256 balance = settlement.balanceOf(account, t);
        vm.prank(account);
        try settlement.requestWithdrawal(t, bound(amount, 0, balance + 1)) {} catch {}
        _observe();
    }

    function claimWithdrawal(uint256 who, uint256 token) external {
        address account = accounts[who % ACCOUNTS];
        vm.prank(account);
        try settlement.claimWithdrawal(address(tokens[token % 2])) {} catch {}
        _observe();
    }

    function blocksPass(uint256 blocks) external {
        vm.roll(block.number + bound(blocks, 1, 2 * MAX_VALIDITY));
    }

    /// @dev A net-delta batch moving `amount` of one token from one account to another, signed by the keys in
    /// `signerMask` (bit i = key i+1), in ascending address order unless `shuffle`.
    /// @dev `mode` picks the certificate: 0-4 an honest quorum (exactly `threshold` registered keys, ascending),
    /// 5 a random key subset, 6 a random subset out of order, 7 an honest quorum over a wrong prevHash, 8 an honest
    /// quorum over an expired certificate.
    function settleTransfer(uint256 from, uint256 to, uint256 token, uint256 amount, uint8 mode, uint8 signerMask)
        external
    {
        mode = mode % 9;
        uint8 mask = mode == 5 || mode == 6 ? signerMask : _honestMask();
        _submit(_transferDeltas(from, to, token, amount), mask, mode == 6, mode == 7, mode == 8);
        _observe();
    }

    /// @dev Honest validators certify a transfer of at most the sender's available balance (requested withdrawals
    /// unavailable) as the next batch, valid for `validity` blocks; it is sent later (or never).
    function certifyPending(uint256 from, uint256 to, uint256 token, uint256 amount, uint256 validity) external {
        (address a, address b, uint256 index) = _pair(from, to, token);
        address t = address(tokens[index - 1]);
        (uint128 requested,) = settlement.withdrawalRequest(a, t);
        uint256 balance = settlement.balanceOf(a, t);
        uint256 available = balance > requested ? balance - requested : 0;
        if (available == 0) return;
        int128 delta = int128(int256(bound(amount, 1, available)));
        _pendingDeltas = abi.encodePacked(
            (uint256(uint160(a)) << 96) | 1, (index << 128) | uint256(uint128(-delta)),
            (uint256(uint160(b)) << 96) | 1, (index << 128) | uint256(uint128(delta))
        );
        _pendingTradeCount = settledBatches + skippedBatches + 1000;
        uint64 stateBlock = uint64(block.number - 1);
        _pending = Settlement.BatchHeader({
            sequence: settlement.lastSequence() + 1,
            prevHash: settlement.lastBatchHash(),
            merkleRoot: settlement.deltasLeaf(_pendingTradeCount, _pendingDeltas),
            stateBlock: stateBlock,
            expiresAt: stateBlock + uint64(bound(validity, 1, MAX_VALIDITY))
        });
        (_pendingSignatures,) = _sign(settlement.batchDigest(_pending), _honestMask(), false);
        hasPending = true;
    }

    function settlePending() external {
        if (!hasPending) return;
        bool valid = _pending.sequence == settlement.lastSequence() + 1 && _pending.prevHash == settlement.lastBatchHash()
            && block.number <= _pending.expiresAt && _pending.stateBlock >= settlement.lastStateBlock();
        try settlement.settle(
            _pending, new Settlement.BatchHeader[](0), _pendingTradeCount, _pendingDeltas, new bytes32[](0),
            _pendingSignatures
        ) {
            settledBatches++;
            hasPending = false;
            if (block.number > _pending.expiresAt) settledExpired = true;
        } catch (bytes memory reason) {
            // still valid and next in line, its signers still a quorum: it may only fail for lack of balance, and
            // that is what must never happen to an honest certificate
            if (valid && bytes4(reason) == Settlement.InsufficientBalance.selector) certifiedInsolvent = true;
        }
        _observe();
    }

    /// @dev Once the pending batch expired, an empty batch certified by an honest quorum skips it: nothing moves.
    function skipPending() external {
        if (!hasPending || block.number <= _pending.expiresAt) return;
        if (_pending.sequence != settlement.lastSequence() + 1) {
            hasPending = false;
            return;
        }
        uint256[6] memory before = _balances();
        Settlement.BatchHeader[] memory skipped = new Settlement.BatchHeader[](1);
        skipped[0] = _pending;
        uint64 stateBlock = uint64(block.number - 1);
        uint256 tradeCount = settledBatches + skippedBatches + 5000;
        Settlement.BatchHeader memory batch = Settlement.BatchHeader({
            sequence: _pending.sequence + 1,
            prevHash: settlement.batchStructHash(_pending),
            merkleRoot: settlement.deltasLeaf(tradeCount, ""),
            stateBlock: stateBlock,
            expiresAt: stateBlock + 1
        });
        (bytes memory signatures,) = _sign(settlement.batchDigest(batch), _honestMask(), false);
        try settlement.settle(batch, skipped, tradeCount, "", new bytes32[](0), signatures) {
            settledBatches++;
            skippedBatches++;
            hasPending = false;
            uint256[6] memory afterwards = _balances();
            for (uint256 i = 0; i < 6; ++i) {
                if (before[i] != afterwards[i]) skipChangedBalances = true;
            }
        } catch {}
        _observe();
    }

    function _balances() internal view returns (uint256[6] memory out) {
        for (uint256 a = 0; a < ACCOUNTS; ++a) {
            for (uint256 t = 0; t < 2; ++t) {
                out[a * 2 + t] = settlement.balanceOf(accounts[a], address(tokens[t]));
            }
        }
    }

    function _pair(uint256 from, uint256 to, uint256 token) internal view returns (address a, address b, uint256 index) {
        a = accounts[from % ACCOUNTS];
        b = accounts[to % ACCOUNTS];
        if (a == b) b = accounts[(to % ACCOUNTS + 1) % ACCOUNTS];
        index = token % 2 + 1;
    }

    function _honestMask() internal view returns (uint8 mask) {
        uint256 need = settlement.threshold();
        for (uint256 i = 0; i < KEYS && need > 0; ++i) {
            if (settlement.isValidator(vm.addr(i + 1))) {
                mask |= uint8(1 << i);
                need--;
            }
        }
    }

    function _transferDeltas(uint256 from, uint256 to, uint256 token, uint256 amount)
        internal
        view
        returns (bytes memory)
    {
        address a = accounts[from % ACCOUNTS];
        address b = accounts[to % ACCOUNTS];
        if (a == b) b = accounts[(to % ACCOUNTS + 1) % ACCOUNTS];
        uint256 index = token % 2 + 1;
        // mostly within the sender's balance (settles), sometimes above it (must revert InsufficientBalance)
        uint256 held = settlement.balanceOf(a, address(tokens[index - 1]));
        int128 delta = int128(int256(bound(amount, 1, held + held / 8 + 1)));
        return abi.encodePacked(
            (uint256(uint160(a)) << 96) | 1, (index << 128) | uint256(uint128(-delta)),
            (uint256(uint160(b)) << 96) | 1, (index << 128) | uint256(uint128(delta))
        );
    }

    function _submit(bytes memory deltas, uint8 signerMask, bool shuffle, bool wrongPrev, bool expired) internal {
        uint256 tradeCount = settledBatches + 1; // makes every batch's root distinct
        bytes32 leaf = settlement.deltasLeaf(tradeCount, deltas);
        uint64 stateBlock = uint64(block.number - (expired ? 3 : 1));
        Settlement.BatchHeader memory batch = Settlement.BatchHeader({
            sequence: settlement.lastSequence() + 1,
            prevHash: wrongPrev ? keccak256("wrong") : settlement.lastBatchHash(),
            merkleRoot: leaf,
            stateBlock: stateBlock,
            expiresAt: expired ? uint64(block.number - 1) : stateBlock + MAX_VALIDITY
        });
        (bytes memory signatures, bool quorum) = _sign(settlement.batchDigest(batch), signerMask, shuffle);
        try settlement.settle(batch, new Settlement.BatchHeader[](0), tradeCount, deltas, new bytes32[](0), signatures) {
            settledBatches++;
            if (expired) settledExpired = true;
            if (!quorum || wrongPrev) settledWithoutQuorum = true;
            if (_settledRoots[leaf]) settledTwice = true;
            _settledRoots[leaf] = true;
        } catch {}
    }

    /// @dev Re-submits the last settled batch's header (a replay): must never settle.
    function replayLast(uint8 signerMask) external {
        uint64 last = settlement.lastSequence();
        if (last == 0) return;
        bytes32 root = settlement.batchRoot(last);
        Settlement.BatchHeader memory batch = Settlement.BatchHeader({
            sequence: last,
            prevHash: bytes32(0),
            merkleRoot: root,
            stateBlock: uint64(block.number - 1),
            expiresAt: uint64(block.number)
        });
        (bytes memory signatures,) = _sign(settlement.batchDigest(batch), signerMask, false);
        try settlement.settle(batch, new Settlement.BatchHeader[](0), 0, "", new bytes32[](0), signatures) {
            settledTwice = true;
        } catch {}
        _observe();
    }

    function addValidator(uint256 key, uint256 threshold) external {
        try settlement.addValidator(vm.addr(bound(key, 1, KEYS)), bound(threshold, 1, KEYS)) {} catch {}
    }

    function removeValidator(uint256 key, uint256 threshold) external {
        try settlement.removeValidator(vm.addr(bound(key, 1, KEYS)), bound(threshold, 1, KEYS)) {} catch {}
    }

    function setThreshold(uint256 threshold) external {
        try settlement.setThreshold(bound(threshold, 1, KEYS)) {} catch {}
    }

    /// @dev Signatures of the keys in `mask` (bit i = key i+1), by ascending address unless `shuffle`; `quorum` is
    /// whether they form a quorum of the current set (ascending, all registered, at least threshold of them).
    function _sign(bytes32 digest, uint8 mask, bool shuffle) internal view returns (bytes memory signatures, bool quorum) {
        uint256[] memory keys = new uint256[](KEYS);
        uint256 n;
        for (uint256 i = 0; i < KEYS; ++i) {
            if (mask & (1 << i) != 0) keys[n++] = i + 1;
        }
        for (uint256 i = 1; i < n; ++i) {
            for (uint256 j = i; j > 0 && vm.addr(keys[j - 1]) > vm.addr(keys[j]); --j) {
                (keys[j - 1], keys[j]) = (keys[j], keys[j - 1]);
            }
        }
        if (shuffle && n > 1) (keys[0], keys[1]) = (keys[1], keys[0]);
        quorum = !(shuffle && n > 1) && n >= settlement.threshold();
        for (uint256 i = 0; i < n; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[i], digest);
            signatures = abi.encodePacked(signatures, r, s, v);
            if (!settlement.isValidator(vm.addr(keys[i]))) quorum = false;
        }
    }

    function _observe() internal {
        uint64 seq = settlement.lastSequence();
        if (seq < maxSequenceSeen) sequenceWentBack = true;
        if (seq > maxSequenceSeen) maxSequenceSeen = seq;
    }
}

contract SettlementInvariants is InvariantSuite {
    SettlementHandler internal handler;
    Settlement internal settlement;

    function setUp() public {
        handler = new SettlementHandler();
        settlement = handler.settlement();
        targetContract(address(handler));
    }

    /// Custody: for each token, the sum of every account's balance equals the tokens the contract holds.
    function invariant_custodyConserved() public view {
        for (uint256 t = 0; t < handler.tokenCount(); ++t) {
            address token = address(handler.tokens(t));
            uint256 sum = settlement.balanceOf(address(0xFEE), token);
            for (uint256 a = 0; a < handler.accountCount(); ++a) {
                sum += settlement.balanceOf(handler.accounts(a), token);
            }
            require(sum == handler.tokens(t).balanceOf(address(settlement)), "custodied balances != tokens held");
        }
    }

    /// The sequence number never goes back, and it counts exactly the settled and skipped batches.
    function invariant_sequenceStrictlyIncreases() public view {
        require(!handler.sequenceWentBack(), "lastSequence decreased");
        require(
            settlement.lastSequence() == handler.settledBatches() + handler.skippedBatches(),
            "lastSequence != batches settled + skipped"
        );
    }

    /// No certificate settles after its expiry block, and skipping an expired batch never changes a balance.
    function invariant_expiredNeverSettlesAndSkipsMoveNothing() public view {
        require(!handler.settledExpired(), "an expired certificate settled");
        require(!handler.skipChangedBalances(), "a skipped batch changed balances");
    }

    /// A claim never makes a certified batch insolvent: an honest certificate, still valid and next in line, never
    /// fails for lack of balance (requested amounts were unavailable to it, and no claim pays out before it expired
    /// or a batch that saw the request settled).
    function invariant_claimsNeverMakeACertifiedBatchInsolvent() public view {
        require(!handler.certifiedInsolvent(), "an honest certified batch became insolvent");
    }

    /// No batch settles without a quorum of the current set (sorted, distinct, registered, >= threshold) or twice.
    function invariant_quorumAndNoReplay() public view {
        require(!handler.settledWithoutQuorum(), "a batch settled without a quorum of the current validator set");
        require(!handler.settledTwice(), "a batch settled twice");
        require(settlement.threshold() >= 1 && settlement.threshold() <= settlement.validatorCount(), "bad threshold");
    }
}
