// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {WrappedToken} from "./WrappedToken.sol";
import {QuorumGoverned} from "../lib/QuorumGoverned.sol";

/// @title Lock-and-mint bridge end point: one instance per chain, relays attested by a validator quorum.
/// @notice Source side: `lock` escrows a token and `release` pays it back out for a burn on the other chain.
/// Destination side: `mint` creates the wrapped token for a lock on the other chain and `burn` starts the way back.
/// Each relay carries EIP-712 signatures (concatenated 65-byte (r, s, v), signers strictly ascending: QuorumVerifier,
/// shared with Settlement) of at least `threshold` distinct registered validators over
/// Relay(uint8 kind,uint256 sourceChainId,address sourceBridge,uint256 destChainId,uint64 nonce,address token,
/// address recipient,uint256 amount) in this contract's domain ("MarketSimBridge", "1", this chain id, this address).
/// A relay id is accepted once. Every lock and burn names one destination chain (in its event and in the signed
/// struct) and a bridge refuses a relay for any other destination, so a lock is mintable on exactly one chain.
/// The bridge fee (basis points of the amount) is paid on the receiving side to `feeRecipient`.
/// Governance (QuorumGoverned, shared with Settlement): an Ownable2Step owner registers wrapped tokens and remote
/// bridges and rotates the validator set and threshold (floor(2n/3)+1..n after deployment); a change applies to every
/// relay executed after it (its events carry effectiveFromSequence 0: relays have no sequence).
contract Bridge is EIP712, QuorumGoverned, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Relay kind: a lock on the source chain, minting the wrapped token here.
    uint8 public constant KIND_MINT = 0;
    /// @notice Relay kind: a burn of the wrapped token on the other chain, releasing the locked token here.
    uint8 public constant KIND_RELEASE = 1;
    /// @notice EIP-712 type hash of the signed Relay struct (it binds the destination chain id).
    bytes32 public constant RELAY_TYPEHASH = keccak256(
        "Relay(uint8 kind,uint256 sourceChainId,address sourceBridge,uint256 destChainId,uint64 nonce,address token,"
        "address recipient,uint256 amount)"
    );
    uint256 private constant FEE_DENOMINATOR = 10_000;

    /// @notice Bridge fee in basis points of the relayed amount.
    uint16 public immutable feeBps;
    /// @notice Receiver of bridge fees.
    address public immutable feeRecipient;

    /// @notice Nonce of the next outgoing transfer (lock or burn).
    uint64 public nextNonce;
    /// @notice Amount of each original token escrowed here by lock and not yet released.
    mapping(address => uint256) public locked;
    /// @notice Wrapped token here for (source chain id, source token).
    mapping(uint256 => mapping(address => address)) public wrappedOf;
    /// @notice Trusted bridge contract on each remote chain.
    mapping(uint256 => address) public remoteBridge;
    /// @notice Relay ids (EIP-712 struct hashes) already executed.
    mapping(bytes32 => bool) public processed;

    event Locked(uint64 indexed nonce, address indexed token, address indexed sender, address recipient,
        uint256 amount, uint256 destChainId);
    event Burned(uint64 indexed nonce, address indexed wrapped, address indexed sender, address recipient,
        uint256 amount, uint256 destChainId, address sourceToken);
    event Minted(bytes32 indexed relayId, address indexed wrapped, address indexed recipient, uint256 amount, uint256 fee);
    event Released(bytes32 indexed relayId, address indexed token, address indexed recipient, uint256 amount, uint256 fee);
    event WrappedCreated(uint256 indexed sourceChainId, address indexed sourceToken, address wrapped);
    event RemoteBridgeSet(uint256 indexed chainId, address bridge);

    error FeeTooHigh(uint16 feeBps);
    error ZeroAmount();
    error UnknownRemote(uint256 chainId, address bridge);
    error UnknownWrapped(uint256 sourceChainId, address sourceToken);
    error NotWrapped(address token);
    error WrappedExists(uint256 sourceChainId, address sourceToken, address wrapped);
    error AlreadyProcessed(bytes32 relayId);
    error InsufficientLocked(address token, uint256 amount, uint256 lockedAmount);
    error InvalidRecipient(address recipient, uint256 destChainId);
    error WrongDestination(uint256 destChainId, uint256 chainId);

    /// @notice Deploy with an owner (governance), the validator set, its threshold and the fee terms.
    /// @param owner_ Governance (Ownable2Step): registers wrapped tokens and remote bridges, rotates validators.
    /// @param validators Accounts whose signatures attest relays (distinct, not zero).
    /// @param threshold_ Signatures needed per relay (1..number of validators; later changes keep floor(2n/3)+1..n).
    /// @param feeBps_ Fee in basis points charged on each received relay (at most 1,000).
    /// @param feeRecipient_ Receiver of the fees (not zero).
    constructor(address owner_, address[] memory validators, uint256 threshold_, uint16 feeBps_,
        address feeRecipient_) EIP712("MarketSimBridge", "1") QuorumGoverned(owner_, validators, threshold_)
    {
        if (feeBps_ > 1_000) revert FeeTooHigh(feeBps_);
        if (feeRecipient_ == address(0)) revert ZeroAddress();
        feeBps = feeBps_;
        feeRecipient = feeRecipient_;
    }

    /// @notice Trusts `bridge` as the bridge contract on chain `chainId`.
    /// @param chainId The remote chain.
    /// @param bridge Its Bridge contract (zero: untrust the chain).
    function setRemoteBridge(uint256 chainId, address bridge) external onlyOwner {
        remoteBridge[chainId] = bridge;
        emit RemoteBridgeSet(chainId, bridge);
    }

    /// @notice Deploys the wrapped token here for `sourceToken` on chain `sourceChainId`.
    /// @param sourceChainId The chain holding the original token.
    /// @param sourceToken The original token there.
    /// @param name Name of the wrapped token.
    /// @param symbol Symbol of the wrapped token.
    /// @param decimals_ Decimals of the wrapped token (those of the original).
    /// @return wrapped The new wrapped token.
    function createWrapped(uint256 sourceChainId, address sourceToken, string calldata name, string calldata symbol,
        uint8 decimals_) external onlyOwner returns (address wrapped)
    {
        address existing = wrappedOf[sourceChainId][sourceToken];
        if (existing != address(0)) revert WrappedExists(sourceChainId, sourceToken, existing);
        wrapped = address(new WrappedToken(name, symbol, decimals_, sourceChainId, sourceToken));
        wrappedOf[sourceChainId][sourceToken] = wrapped;
        emit WrappedCreated(sourceChainId, sourceToken, wrapped);
    }

    /// @notice Escrows `amount` of `token` (pre-approved) for `recipient` on chain `destChainId`; the Locked event
    /// names that one destination, the only bridge that will mint for it.
    /// @param token The token to lock.
    /// @param amount Amount to take from the caller (the event carries what arrived, fee-on-transfer safe).
    /// @param recipient Receiver of the wrapped token on the destination (not zero).
    /// @param destChainId The destination chain (a registered remote).
    /// @return nonce The transfer's nonce, part of its relay id on the destination.
    function lock(address token, uint256 amount, address recipient, uint256 destChainId)
        external
        nonReentrant
        returns (uint64 nonce)
    {
        if (amount == 0) revert ZeroAmount();
        if (recipient == address(0)) revert InvalidRecipient(recipient, destChainId);
        if (remoteBridge[destChainId] == address(0)) revert UnknownRemote(destChainId, address(0));
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - before; // fee-on-transfer safe
        nonce = nextNonce++;
        locked[token] += received;
        emit Locked(nonce, token, msg.sender, recipient, received, destChainId);
    }

    /// @notice Burns `amount` of a wrapped token from the caller so that the original is released on its chain.
    /// @param wrapped A wrapped token created by this bridge.
    /// @param amount Amount to burn from the caller.
    /// @param recipient Receiver of the original token on its chain (not zero).
    /// @return nonce The transfer's nonce, part of its relay id on the source chain.
    function burn(address wrapped, uint256 amount, address recipient) external nonReentrant returns (uint64 nonce) {
        if (amount == 0) revert ZeroAmount();
        WrappedToken w = WrappedToken(wrapped);
        uint256 sourceChainId = w.sourceChainId();
        if (recipient == address(0)) revert InvalidRecipient(recipient, sourceChainId);
        address sourceToken = w.sourceToken();
        if (wrappedOf[sourceChainId][sourceToken] != wrapped) revert NotWrapped(wrapped);
        w.burn(msg.sender, amount);
        nonce = nextNonce++;
        emit Burned(nonce, wrapped, msg.sender, recipient, amount, sourceChainId, sourceToken);
    }

    /// @notice Mints the wrapped token for a lock on chain `sourceChainId`, given a validator quorum's signatures.
    /// @param sourceChainId The chain the lock happened on.
    /// @param destChainId The destination the lock named: must be this chain.
    /// @param nonce The lock's nonce on the source bridge.
    /// @param token The original token on the source chain.
    /// @param recipient Receiver of the wrapped token.
    /// @param amount Amount locked (the fee is minted to `feeRecipient`, the rest to `recipient`).
    /// @param signatures Concatenated 65-byte (r, s, v) signatures over the relay digest, signers strictly ascending.
    function mint(uint256 sourceChainId, uint256 destChainId, uint64 nonce, address token, address recipient,
        uint256 amount, bytes calldata signatures) external nonReentrant
    {
        bytes32 relayId =
            _verify(KIND_MINT, sourceChainId, destChainId, nonce, token, recipient, amount, signatures);
        address wrapped = wrappedOf[sourceChainId][token];
        if (wrapped == address(0)) revert UnknownWrapped(sourceChainId, token);
        uint256 fee = amount * feeBps / FEE_DENOMINATOR;
        WrappedToken(wrapped).mint(recipient, amount - fee);
        if (fee > 0) WrappedToken(wrapped).mint(feeRecipient, fee);
        emit Minted(relayId, wrapped, recipient, amount - fee, fee);
    }

    /// @notice Releases locked `token` for a burn of its wrapped token on chain `sourceChainId`, given a quorum.
    /// @param sourceChainId The chain the burn happened on.
    /// @param destChainId The destination the burn named: must be this chain.
    /// @param nonce The burn's nonce on that chain's bridge.
    /// @param token The original token here.
    /// @param recipient Receiver of the released token.
    /// @param amount Amount burned (the fee goes to `feeRecipient`, the rest to `recipient`).
    /// @param signatures Concatenated 65-byte (r, s, v) signatures over the relay digest, signers strictly ascending.
    function release(uint256 sourceChainId, uint256 destChainId, uint64 nonce, address token, address recipient,
        uint256 amount, bytes calldata signatures) external nonReentrant
    {
        bytes32 relayId =
            _verify(KIND_RELEASE, sourceChainId, destChainId, nonce, token, recipient, amount, signatures);
        uint256 available = locked[token];
        if (amount > available) revert InsufficientLocked(token, amount, available);
        locked[token] = available - amount;
        uint256 fee = amount * feeBps / FEE_DENOMINATOR;
        IERC20(token).safeTransfer(recipient, amount - fee);
        if (fee > 0) IERC20(token).safeTransfer(feeRecipient, fee);
        emit Released(relayId, token, recipient, amount - fee, fee);
    }

    /// @notice EIP-712 digest validators sign for a relay arriving at this bridge.
    /// @param kind KIND_MINT or KIND_RELEASE.
    /// @param sourceChainId The chain the lock or burn happened on.
    /// @param destChainId The destination it named.
    /// @param nonce Its nonce on the source bridge.
    /// @param token The original token.
    /// @param recipient Receiver here.
    /// @param amount Amount locked or burned.
    /// @return The digest to sign.
    function relayDigest(uint8 kind, uint256 sourceChainId, uint256 destChainId, uint64 nonce, address token,
        address recipient, uint256 amount) public view returns (bytes32)
    {
        return _hashTypedDataV4(_relayHash(kind, sourceChainId, destChainId, nonce, token, recipient, amount));
    }

    function _relayHash(uint8 kind, uint256 sourceChainId, uint256 destChainId, uint64 nonce, address token,
        address recipient, uint256 amount) private view returns (bytes32)
    {
        address source = remoteBridge[sourceChainId];
        if (source == address(0)) revert UnknownRemote(sourceChainId, address(0));
        return keccak256(
            abi.encode(RELAY_TYPEHASH, kind, sourceChainId, source, destChainId, nonce, token, recipient, amount)
        );
    }

    /// @dev Checks destination, quorum and replay, then marks the relay processed (before any token moves).
    function _verify(uint8 kind, uint256 sourceChainId, uint256 destChainId, uint64 nonce, address token,
        address recipient, uint256 amount, bytes calldata signatures) private returns (bytes32 relayId)
    {
        if (amount == 0) revert ZeroAmount();
        if (destChainId != block.chainid) revert WrongDestination(destChainId, block.chainid);
        relayId = _relayHash(kind, sourceChainId, destChainId, nonce, token, recipient, amount);
        if (processed[relayId]) revert AlreadyProcessed(relayId);
        _checkQuorum(_hashTypedDataV4(relayId), signatures);
        processed[relayId] = true;
    }
}
