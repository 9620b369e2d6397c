// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InvariantSuite, Cheats} from "./Base.sol";
import {Bridge} from "../../contracts/bridge/Bridge.sol";
import {WrappedToken} from "../../contracts/bridge/WrappedToken.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";

/// @dev Two bridge end points (logical chains 1 = source, 2 = destination) on the forge chain, and an honest relayer:
/// it relays only real locks and burns, with a quorum, sometimes twice (replay) or with too few signatures.
/// A bridge executes only relays naming its own chain id, so the handler switches block.chainid (vm.chainId) to the
/// receiving end point's logical chain before each relay.
contract BridgeHandler is Cheats {
    uint256 internal constant SOURCE = 1;
    uint256 internal constant DEST = 2;
    uint256 internal constant KEYS = 4;
    uint256 internal constant THRESHOLD = 3;

    struct Pending {
        uint64 nonce;
        address recipient;
        uint256 amount;
        bool relayed;
    }

    Bridge public immutable source;
    Bridge public immutable dest;
    TestToken public immutable token;
    WrappedToken public immutable wrapped;
    address[3] public users;
    Pending[] internal _locks;
    Pending[] internal _burns;

    bool public relayedTwice;
    bool public belowQuorumAccepted;
    uint256 public relays;

    constructor() {
        address[] memory validators = new address[](KEYS);
        for (uint256 i = 0; i < KEYS; ++i) validators[i] = vm.addr(i + 1);
        source = new Bridge(address(this), validators, THRESHOLD, 10, address(0xFEE));
        dest = new Bridge(address(this), validators, THRESHOLD, 10, address(0xFEE));
        source.setRemoteBridge(DEST, address(dest));
        dest.setRemoteBridge(SOURCE, address(source));
        token = new TestToken("T", "T", 18);
        wrapped = WrappedToken(dest.createWrapped(SOURCE, address(token), "Wrapped T", "wT", 18));
        for (uint256 u = 0; u < 3; ++u) {
            users[u] = address(uint160(0xB000 + u));
            token.mint(users[u], 1e30);
            vm.prank(users[u]);
            token.approve(address(source), type(uint256).max);
        }
    }

    function lock(uint256 who, uint256 amount) external {
        address user = users[who % 3];
        amount = bound(amount, 1, 1e24);
        vm.prank(user);
        uint64 nonce = source.lock(address(token), amount, user, DEST);
        _locks.push(Pending(nonce, user, amount, false));
    }

    function burn(uint256 who, uint256 amount) external {
        address user = users[who % 3];
        uint256 held = wrapped.balanceOf(user);
        if (held == 0) return;
        amount = bound(amount, 1, held);
        vm.prank(user);
        uint64 nonce = dest.burn(address(wrapped), amount, user);
        _burns.push(Pending(nonce, user, amount, false));
    }

    /// @dev Relays lock `i` to the destination (a replay if already relayed; `short` drops one signature).
    function relayMint(uint256 i, bool short) external {
        if (_locks.length == 0) return;
        Pending storage p = _locks[i % _locks.length];
        vm.chainId(DEST);
        bytes32 digest = dest.relayDigest(0, SOURCE, DEST, p.nonce, address(token), p.recipient, p.amount);
        try dest.mint(SOURCE, DEST, p.nonce, address(token), p.recipient, p.amount, _sign(digest, short)) {
            if (short) belowQuorumAccepted = true;
            if (p.relayed) relayedTwice = true;
            p.relayed = true;
            relays++;
        } catch {}
    }

    /// @dev Relays burn `i` back to the source (a replay if already relayed; `short` drops one signature).
    function relayRelease(uint256 i, bool short) external {
        if (_burns.length == 0) return;
        Pending storage p = _burns[i % _burns.length];
        vm.chainId(SOURCE);
        bytes32 digest = source.relayDigest(1, DEST, SOURCE, p.nonce, address(token), p.recipient, p.amount);
        try source.release(DEST, SOURCE, p.nonce, address(token), p.recipient, p.amount, _sign(digest, short)) {
            if (short) belowQuorumAccepted = true;
            if (p.relayed) relayedTwice = true;
            p.relayed = true;
            relays++;
        } catch {}
    }

    function _sign(bytes32 digest, bool short) internal pure returns (bytes memory sigs) {
        uint256[] memory keys = new uint256[](KEYS);
        for (uint256 i = 0; i < KEYS; ++i) keys[i] = i + 1;
        for (uint256 i = 1; i < KEYS; ++i) {
            for (uint256 j = i; j > 0 && vm.addr(keys[j - 1]) > vm.addr(keys[j]); --j) {
                (keys[j - 1], keys[j]) = (keys[j], keys[j - 1]);
            }
        }
        uint256 n = short ? THRESHOLD - 1 : THRESHOLD;
        for (uint256 i = 0; i < n; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[i], digest);
            sigs = abi.encodePacked(sigs, r, s, v);
        }
    }
}

contract BridgeInvariants is InvariantSuite {
    BridgeHandler internal handler;

    function setUp() public {
        handler = new BridgeHandler();
        targetContract(address(handler));
    }

    /// The wrapped supply on the destination never exceeds what is locked on the source, which the source holds.
    function invariant_wrappedSupplyBackedByLocked() public view {
        uint256 locked = handler.source().locked(address(handler.token()));
        require(handler.wrapped().totalSupply() <= locked, "wrapped supply > locked on the source");
        require(handler.token().balanceOf(address(handler.source())) >= locked, "source holds less than locked");
    }

    /// No relay is executed twice, and none with fewer than threshold signatures.
    function invariant_noReplayNoShortQuorum() public view {
        require(!handler.relayedTwice(), "a relay was processed twice");
        require(!handler.belowQuorumAccepted(), "a relay below threshold was accepted");
    }
}
