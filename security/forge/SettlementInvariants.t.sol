// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InvariantSuite, Cheats} from "./Base.sol";
import {Settlement} from "../../contracts/settlement/Settlement.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";

/// @dev Deposits, withdrawals, certified batches (net deltas and per-trade) signed by random subsets of known
/// validator keys (some not registered), and governance changes of the validator set and threshold.
contract SettlementHandler is Cheats {
    uint256 internal constant KEYS = 6; // keys 1..6; 1..4 registered at start
    uint256 internal constant ACCOUNTS = 3;

    Settlement public immutable settlement;
    TestToken[2] public tokens;
    address[ACCOUNTS] public accounts;

    /// @dev Ghosts: the highest sequence ever observed, and any settled batch that lacked a current quorum.
    uint64 public maxSequenceSeen;
    bool public sequenceWentBack;
    bool public settledWithoutQuorum;
    bool public settledTwice;
    uint256 public settledBatches;
    mapping(bytes32 => bool) internal _settledRoots;

    constructor() {
        address[] memory validators = new address[](4);
        for (uint256 i = 0; i < 4; ++i) validators[i] = vm.addr(i + 1);
        settlement = new Settlement(address(this), validators, 3, address(0xFEE));
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

    function withdraw(uint256 who, uint256 token, uint256 amount) external {
        address account = accounts[who % ACCOUNTS];
        address t = address(tokens[token % 2]);
        uint256 balance = settlement.balanceOf(account, t);
        vm.prank(account);
        try settlement.withdraw(t, bound(amount, 0, balance + 1)) {} catch {}
        _observe();
    }

    /// @dev A net-delta batch moving `amount` of one token from one account to another, signed by the keys in
    /// `signerMask` (bit i = key i+1), in ascending address order unless `shuffle`.
    /// @dev `mode` picks the certificate: 0-4 an honest quorum (exactly `threshold` registered keys, ascending),
    /// 5 a random key subset, 6 a random subset out of order, 7 an honest quorum over a wrong prevHash.
    function settleTransfer(uint256 from, uint256 to, uint256 token, uint256 amount, uint8 mode, uint8 signerMask)
        external
    {
        mode = mode % 8;
        uint8 mask = mode == 5 || mode == 6 ? signerMask : _honestMask();
        _submit(_transferDeltas(from, to, token, amount), mask, mode == 6, mode == 7);
        _observe();
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

    function _submit(bytes memory deltas, uint8 signerMask, bool shuffle, bool wrongPrev) internal {
        uint256 tradeCount = settledBatches + 1; // makes every batch's root distinct
        bytes32 leaf = settlement.deltasLeaf(tradeCount, deltas);
        Settlement.BatchHeader memory batch = Settlement.BatchHeader({
            sequence: settlement.lastSequence() + 1,
            prevHash: wrongPrev ? keccak256("wrong") : settlement.lastBatchHash(),
            merkleRoot: leaf
        });
        (bytes memory signatures, bool quorum) = _sign(settlement.batchDigest(batch), signerMask, shuffle);
        try settlement.settle(batch, tradeCount, deltas, new bytes32[](0), signatures) {
            settledBatches++;
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
        Settlement.BatchHeader memory batch = Settlement.BatchHeader({sequence: last, prevHash: bytes32(0), merkleRoot: root});
        (bytes memory signatures,) = _sign(settlement.batchDigest(batch), signerMask, false);
        try settlement.settle(batch, 0, "", new bytes32[](0), signatures) {
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

    /// The sequence number never goes back, and it counts exactly the settled batches.
    function invariant_sequenceStrictlyIncreases() public view {
        require(!handler.sequenceWentBack(), "lastSequence decreased");
        require(settlement.lastSequence() == handler.settledBatches(), "lastSequence != batches settled");
    }

    /// No batch settles without a quorum of the current set (sorted, distinct, registered, >= threshold) or twice.
    function invariant_quorumAndNoReplay() public view {
        require(!handler.settledWithoutQuorum(), "a batch settled without a quorum of the current validator set");
        require(!handler.settledTwice(), "a batch settled twice");
        require(settlement.threshold() >= 1 && settlement.threshold() <= settlement.validatorCount(), "bad threshold");
    }
}
