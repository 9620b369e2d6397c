// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {QuorumGoverned} from "../lib/QuorumGoverned.sol";

/// @title Settlement
/// @notice Custody of ERC20 balances per trader and settlement of trade batches certified by a validator quorum.
/// @dev A batch is identified by the EIP-712 struct
/// `Batch(uint64 sequence,bytes32 prevHash,bytes32 merkleRoot,uint64 stateBlock,uint64 expiresAt)` under the domain
/// ("MarketSimSettlement", "1", chainid, this contract). Batches settle strictly in sequence and each names the hash
/// of its predecessor (the struct hash of the previous batch), so replayed or reordered batches revert. A batch
/// needs signatures of at least `threshold` distinct registered validators, given in strictly ascending
/// signer-address order (QuorumVerifier, shared with Bridge).
///
/// Expiry (issue 13): validators check a batch against the balances at block `stateBlock` and its certificate is
/// valid up to block `expiresAt` only (`CertificateExpired` after; `expiresAt <= stateBlock + maxValidity`;
/// `stateBlock` below the current block and not below the last settled batch's). A certified batch that expired
/// unsettled is never applied: a later batch skips it, naming its header in `skipped` (each must have expired at
/// this block and the headers must chain from `lastBatchHash` to the new batch's prevHash; the new batch's
/// certificate commits to that chain through its prevHash, so the skipped ones need none). So the committee's log
/// and the chain never diverge (every height is settled or skipped), and a batch its submitter gave up on after
/// expiry can never settle later.
///
/// Withdrawals take two steps (`requestWithdrawal`, then `claimWithdrawal`): a claim succeeds once a batch certified
/// against a stateBlock at or after the request's block has settled, or `maxValidity` blocks after the request
/// (every certificate that did not see the request has expired by then). Validators count requested amounts as
/// unavailable from the request's block on, so a certified batch is solvent whenever it settles; deposits count at
/// once.
///
/// Two ways of applying a batch:
/// - `settle` (net deltas, the default): the submitter sends per-account net balance changes, grouped by account.
///   The validators' signature binds them because the batch's Merkle tree holds, after the trade leaves, one
///   "deltas leaf" = keccak256(keccak256(abi.encode(DELTAS_LEAF_TAG, tradeCount, keccak256(deltas)))); the
///   submitter proves that leaf against the signed root. Honest validators only sign a root whose deltas leaf
///   equals the deltas derived from the batch's trades, so a submitter cannot settle anything else. The contract
///   also checks that every token's deltas sum to zero and that no balance goes negative.
/// - `settleTrades` (per-trade transfers): the submitter sends the trades themselves; the contract recomputes the
///   Merkle root from them and applies each trade. Costlier in calldata and hashing; kept for measurement and as
///   the one-transaction-per-trade baseline.
/// Governance (QuorumGoverned, shared with Bridge): an Ownable2Step owner rotates the validator set and threshold.
/// Changes apply to every batch settled after the change (never to settled ones); their events name the first
/// sequence number they govern. Every change keeps the threshold in floor(2n/3)+1..n for n registered validators
/// (`ThresholdTooLow` otherwise), so validators added by governance can never settle alone.
///
/// Margin (issue 16, `settleMargin`): a trader borrows a listed token from that token's lending pool against the
/// collateral it holds here (a short seller borrows the base token, a leveraged buyer the quote token). Balances
/// are signed: a negative balance is a debt to that token's pool (principal plus fees), so borrowing is implicit
/// when a margin batch takes a balance below zero and repayment implicit when a credit raises a negative one; there
/// is no separate debt storage (a debt costs no extra storage read or write). Lenders deposit into a pool (`lend`)
/// for shares; borrow fees, certified per batch, debit the borrowers' balances and grow the pool's assets, which
/// the shares divide. A margin batch's leaf also commits to its fees, its mark prices (one per listed token, in a
/// common unit) and its liquidated accounts (`marginLeaf`), so the marks are certified by the same quorum and
/// signed through the batch's merkleRoot. After applying it the contract refuses a batch that leaves an account it
/// touched with debt below maintenance at those marks (`BelowMaintenance`), or that borrows more than a pool holds
/// (`PoolExhausted`). Accounts the batch names as liquidated (their positions were closed through the book by the
/// liquidation engine) are exempt from the maintenance check but may not borrow more. Spot batches (`settle`,
/// `settleTrades`) carry no marks, so while any debt is outstanding (some pool's `borrowed` is not zero; borrowed
/// is the sum of that token's debts) a spot batch is refused (`SpotBatchWithDebt`): it could otherwise move an
/// indebted account's collateral unchecked. A spot batch never touches a negative balance (`DebtInSpotBatch`,
/// defence in depth): only a margin batch moves a debt, with its pool. An account with debt cannot withdraw
/// (`DebtOutstanding`); a deposit into a negative balance repays the pool first; a lender leaves the pool in two
/// steps, like a withdrawal, so a certified batch's borrows stay covered.
///
/// Custody, per token (P = sum of the positive balances, N = sum of the debts, i.e. of the negative balances'
/// magnitudes, H = tokens the contract holds): every operation keeps `pool.borrowed == N` and changes H exactly as
/// much as P + pool.cash, so H >= P + pool.cash always (equality but for tokens sent here directly) — what
/// accounts (P) and lenders (at most cash) can ever take out is held. Margin batch: kind-0 changes sum to zero and
/// the fees F are debited, so the balances' sum P - N moves by -F; the contract adds up dNeg = the change of N
/// exactly (each entry's old and new negative part) and sets borrowed += dNeg, cash += F - dNeg, so
/// P moves by dNeg - F = -(change of cash): P + cash is unchanged, and assets (cash + borrowed) grow by F. A
/// deposit of a into a balance b < 0 repays r = min(a, -b): N and borrowed fall by r, cash rises by r, P by a - r,
/// H by a. Spot batches move only non-negative balances and conserve their sum; withdrawals, lending and pool
/// exits move H one for one with P or cash.
///
/// Storage: the owner lists each token, giving it an index (1, 2, ...); balances are int128 (two's complement) and
/// two tokens share one storage slot per account (indices 2k-1 and 2k), so a batch touching an account's four
/// tokens writes two slots instead of four. Storage writes are the cost of a batch, so this halves the gas per
/// settled trade.
contract Settlement is EIP712, QuorumGoverned, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice The signed batch header.
    struct BatchHeader {
        uint64 sequence;
        bytes32 prevHash;
        bytes32 merkleRoot;
        uint64 stateBlock;
        uint64 expiresAt;
    }

    /// @notice A withdrawal requested and not yet claimed.
    struct WithdrawalRequest {
        uint128 amount;
        uint64 requestBlock;
    }

    /// @notice One trade as settled on chain; its Merkle leaf is keccak256(keccak256(abi.encode(trade))).
    /// @dev The buyer pays quoteAmount + buyerFee of quoteToken and receives baseAmount of baseToken; the seller
    /// gives baseAmount and receives quoteAmount - sellerFee; both fees go to the fee account.
    struct SettledTrade {
        uint64 tradeId;
        address buyer;
        address seller;
        address baseToken;
        address quoteToken;
        uint256 baseAmount;
        uint256 quoteAmount;
        uint256 buyerFee;
        uint256 sellerFee;
    }

    /// @notice What a margin batch settles; `marginLeaf` of it is a leaf of the signed Merkle tree.
    /// @dev `deltas` as in `settle`, except that each entry word is `kind << 248 | tokenIndex << 128 | uint128(v)`:
    /// kind 0 changes the signed balance by int128 v (it may cross zero: below zero is borrowed from the pool,
    /// a credit to a negative balance repays it), kind 1 debits fee v >= 0 from the balance and pays it to the pool
    /// (the borrow fee accrued since the last batch: the pool's assets grow by v). Per token, kind-0 changes sum to
    /// zero. `marks[i]` is the mark of token index i+1 (every listed token, not zero, at
    /// most MAX_MARK) in one unit of value per token base unit; `liquidated` lists the accounts whose positions the
    /// liquidation engine closed in this batch.
    struct MarginBatch {
        uint256 tradeCount;
        bytes deltas;
        uint256[] marks;
        address[] liquidated;
    }

    /// @notice A lending pool of one token (amounts in token base units).
    struct Pool {
        uint128 cash;     // held by the contract, not lent out
        uint128 borrowed; // outstanding debt, fees included
        uint256 shares;   // lender shares outstanding
    }

    /// @notice EIP-712 type hash of the signed batch header.
    bytes32 public constant BATCH_TYPEHASH =
        keccak256("Batch(uint64 sequence,bytes32 prevHash,bytes32 merkleRoot,uint64 stateBlock,uint64 expiresAt)");
    /// @notice Tag hashed into the deltas leaf (domain separation from trade leaves).
    bytes32 public constant DELTAS_LEAF_TAG = keccak256("MarketSimSettlement.Deltas");
    /// @notice Tag hashed into a margin batch's leaf.
    bytes32 public constant MARGIN_LEAF_TAG = keccak256("MarketSimSettlement.Margin");
    /// @notice Largest mark price a margin batch may carry (keeps value arithmetic far from overflow).
    uint256 public constant MAX_MARK = 2 ** 96;
    /// @notice Basis points: maintenance rates are in 1/10000 of the borrowed value.
    uint256 public constant BPS = 10_000;
    uint256 private constant MASK128 = type(uint128).max;
    /// @dev Sign bits of the two int128 halves of a packed balance slot.
    uint256 private constant SIGNS = (1 << 127) | (1 << 255);
    /// @dev Largest balance (int128).
    uint256 private constant MAX_BALANCE = uint256(uint128(type(int128).max));

    /// @notice Index of a listed token (1-based, in listing order); 0 for an unlisted token.
    mapping(address token => uint256) public tokenIndex;
    /// @notice The token with a given index.
    mapping(uint256 index => address) public tokenAt;
    /// @notice Number of listed tokens.
    uint256 public tokenCount;
    /// @dev account => slot k => signed int128 balances of tokens 2k+1 (low 128 bits) and 2k+2 (high 128 bits); a
    /// negative balance is a debt to that token's pool.
    mapping(address account => mapping(uint256 slot => uint256)) private _packed;
    /// @notice Merkle root of each settled batch, by sequence number.
    mapping(uint64 sequence => bytes32) public batchRoot;
    /// @notice Sequence number of the last settled or skipped batch (0 before the first).
    uint64 public lastSequence;
    /// @notice stateBlock of the last settled batch (shares a slot with lastSequence).
    uint64 public lastStateBlock;
    /// @notice Most blocks a certificate may be valid past its stateBlock; fixed at deployment, because the
    /// withdrawal timeout relies on every certificate that could still settle having been bounded by it.
    uint64 public immutable maxValidity;
    /// @notice Struct hash of the last settled or skipped batch: the prevHash the next batch must name (0 at genesis).
    bytes32 public lastBatchHash;
    /// @notice Receiver of trading fees in per-trade mode (in net-delta mode it is one of the delta accounts).
    address public feeAccount;
    /// @notice Pending withdrawal request per account and token.
    mapping(address account => mapping(address token => WithdrawalRequest)) public withdrawalRequest;
    /// @notice The lending pool of each token, by token index.
    mapping(uint256 index => Pool) public pool;
    /// @notice Pool shares of each lender, by token index.
    mapping(address lender => mapping(uint256 index => uint256)) public poolShares;
    /// @notice Pending pool exit per lender and token index (`amount` counts shares).
    mapping(address lender => mapping(uint256 index => WithdrawalRequest)) public poolExitRequest;
    /// @notice Maintenance requirement per token index, in basis points above the borrowed value (3000: 130%).
    mapping(uint256 index => uint256) public maintenanceBps;

    event Deposited(address indexed account, address indexed token, uint256 amount, uint256 balance);
    event Withdrawn(address indexed account, address indexed token, uint256 amount, uint256 balance);
    /// @notice `account` asked to withdraw; `requested` is its whole pending request for `token`, from `requestBlock`.
    event WithdrawalRequested(
        address indexed account, address indexed token, uint256 amount, uint256 requested, uint64 requestBlock
    );
    /// @notice Certified batch `sequence` expired unsettled and was skipped (never applied).
    event BatchSkipped(uint64 indexed sequence, bytes32 batchHash, uint64 expiresAt);
    event BatchSettled(
        uint64 indexed sequence, bytes32 batchHash, bytes32 merkleRoot, uint256 tradeCount, uint256 deltaCount
    );
    event FeeAccountChanged(address previousFeeAccount, address newFeeAccount);
    /// @notice A margin batch or a repaying deposit left `token`'s pool with `cash` and `borrowed` outstanding.
    /// Per-account debt changes in a margin batch, like balance deltas, are in the batch's calldata
    /// (`settleMargin`'s deltas: a debt is a negative balance), not in events: an event per entry would cost as
    /// much gas as the entry's storage write.
    event PoolChanged(address indexed token, uint256 cash, uint256 borrowed);
    /// @notice `lender` lent `amount` of `token` for `shares` pool shares.
    event Lent(address indexed lender, address indexed token, uint256 amount, uint256 shares);
    /// @notice `lender` asked to leave `token`'s pool; `shares` is its whole pending exit, from `requestBlock`.
    event PoolExitRequested(address indexed lender, address indexed token, uint256 shares, uint64 requestBlock);
    /// @notice `lender` redeemed `shares` of `token`'s pool for `amount`.
    event PoolExited(address indexed lender, address indexed token, uint256 shares, uint256 amount);
    /// @notice Accounts `account`, liquidated in batch `sequence`, was left below maintenance (the book ran dry).
    event LiquidatedBelowMaintenance(uint64 indexed sequence, address indexed account, uint256 required, uint256 available);
    /// @notice The maintenance requirement of `token` became `bps` basis points above the borrowed value.
    event MaintenanceSet(address indexed token, uint256 bps);
    event TokenListed(address indexed token, uint256 index);
    /// @notice A deposit into `account`'s negative balance of `token` repaid `repaid` to the pool; `debt` is left.
    event DebtRepaid(address indexed account, address indexed token, uint256 repaid, uint256 debt);

    error ZeroAmount();
    error InsufficientBalance(address account, address token, uint256 needed, uint256 available);
    error UnexpectedSequence(uint64 expected, uint64 got);
    error PrevHashMismatch(bytes32 expected, bytes32 got);
    error DeltasNotInBatch(bytes32 merkleRoot, bytes32 deltasLeaf);
    error MalformedDeltas(uint256 offset, uint256 length);
    error UnknownToken(address token);
    error TokenAlreadyListed(address token, uint256 index);
    error UnknownTokenIndex(uint256 offset, uint256 index);
    error ValueNotConserved(address token, int256 imbalance);
    error BalanceOverflow(address account, address token, uint256 balance, uint256 credit);
    error RootMismatch(bytes32 signedRoot, bytes32 computedRoot);
    error EmptyBatch();
    error FeeExceedsAmount(uint64 tradeId, uint256 sellerFee, uint256 quoteAmount);
    error UnknownBatch(uint64 sequence);
    error ProofCountMismatch(uint256 trades, uint256 proofs);
    error LengthMismatch(uint256 accounts, uint256 amounts);
    error CertificateExpired(uint64 sequence, uint64 expiresAt, uint256 blockNumber);
    error StateBlockNotPast(uint64 sequence, uint64 stateBlock, uint256 blockNumber);
    error StateBlockBehind(uint64 sequence, uint64 stateBlock, uint64 lastStateBlock);
    error ValidityTooLong(uint64 sequence, uint64 stateBlock, uint64 expiresAt, uint64 maxValidity);
    error SkippedNotExpired(uint64 sequence, uint64 expiresAt, uint256 blockNumber);
    error InvalidMaxValidity(uint64 maxValidity);
    error NoWithdrawalRequest(address account, address token);
    error WithdrawalNotReady(address account, address token, uint64 requestBlock, uint256 readyAtBlock);
    /// @notice After the batch, `account` holds collateral worth `available` against `required` at the batch's marks.
    error BelowMaintenance(address account, uint256 required, uint256 available);
    /// @notice A borrow of `requested` from `token`'s pool, which holds `available`.
    error PoolExhausted(address token, uint256 requested, uint256 available);
    /// @notice A spot batch has an entry on `account`'s balance of `token`, which is negative (`debt` owed to the
    /// pool): only a margin batch may move a debt. Defence in depth: `SpotBatchWithDebt` refuses a spot batch first
    /// whenever a debt exists (pool borrowed = the sum of the debts); withdrawals refuse debt (`DebtOutstanding`).
    error DebtInSpotBatch(address account, address token, uint256 debt);
    /// @notice A spot batch while `token`'s pool (the first listed with debt) has `borrowed` outstanding: spot
    /// batches carry no marks, so none is accepted while any debt is (only margin batches settle then).
    error SpotBatchWithDebt(address token, uint256 borrowed);
    /// @notice A margin entry would take `account`'s signed balance of `token` from `balance` by `change` out of
    /// the int128 range.
    error BalanceOutOfRange(address account, address token, int256 balance, int256 change);
    /// @notice A margin batch would leave `token`'s pool with `cash` or `borrowed` out of the uint128 range.
    error PoolOutOfRange(address token, int256 cash, int256 borrowed);
    /// @notice A margin batch carries `got` marks for `expected` listed tokens.
    error MarksLength(uint256 expected, uint256 got);
    /// @notice Mark of token index `index` is zero or above MAX_MARK.
    error InvalidMark(uint256 index, uint256 mark);
    /// @notice `account` is liquidated in this batch and may not borrow.
    error LiquidatedBorrows(address account);
    /// @notice `account` has debt and may not withdraw.
    error DebtOutstanding(address account);
    /// @notice A pool-share amount is zero or above what the lender holds.
    error InsufficientShares(address lender, address token, uint256 needed, uint256 held);
    /// @notice Maintenance rate above 100000 bps.
    error InvalidMaintenance(address token, uint256 bps);

    /// @notice Deploy with an owner (governance), an initial validator set, its threshold and the fee account.
    /// @param owner_ Governance (Ownable2Step): lists tokens, sets the fee account, rotates validators.
    /// @param validators The initial validator set (distinct, not zero).
    /// @param threshold_ Signatures a batch needs (1..number of validators; later changes keep floor(2n/3)+1..n).
    /// @param feeAccount_ Receiver of trading fees in per-trade mode (not zero).
    /// @param maxValidity_ Most blocks a certificate may stay valid past its stateBlock (not zero).
    constructor(
        address owner_,
        address[] memory validators,
        uint256 threshold_,
        address feeAccount_,
        uint64 maxValidity_
    ) EIP712("MarketSimSettlement", "1") QuorumGoverned(owner_, validators, threshold_) {
        if (maxValidity_ == 0) revert InvalidMaxValidity(maxValidity_);
        maxValidity = maxValidity_;
        _setFeeAccount(feeAccount_);
    }

    // ------------------------------------------------------------------ custody

    /// @notice Deposit `amount` of `token` from the caller (needs an ERC20 allowance) into the caller's balance; into
    /// a negative balance (a debt) it repays the pool first (`DebtRepaid`, `PoolChanged`) and credits the rest.
    /// @dev Fee-on-transfer tokens are not supported: the credited amount is `amount`.
    /// @param token A listed token.
    /// @param amount Amount to pull from the caller (token base units, not zero).
    function deposit(address token, uint256 amount) external nonReentrant {
        _deposit(msg.sender, token, amount);
    }

    /// @notice Deposit `amount` of `token` from the caller into `account`'s balance (e.g. a funding desk); repays
    /// a debt first, as `deposit`.
    /// @param account The account credited (not zero).
    /// @param token A listed token.
    /// @param amount Amount to pull from the caller (token base units, not zero).
    function depositFor(address account, address token, uint256 amount) external nonReentrant {
        if (account == address(0)) revert ZeroAddress();
        _deposit(account, token, amount);
    }

    /// @notice Deposit for many accounts in one transaction (e.g. a funding desk opening accounts): credits
    /// `amounts[i]` of `token` to `accounts[i]` (repaying a debt first, as `deposit`), pulling their sum from the
    /// caller in one transfer.
    /// @param token A listed token.
    /// @param accounts The accounts credited (at least one; none zero).
    /// @param amounts Amount for each account (token base units, none zero), as many as `accounts`.
    function depositForMany(address token, address[] calldata accounts, uint256[] calldata amounts)
        external
        nonReentrant
    {
        uint256 n = accounts.length;
        if (n != amounts.length) revert LengthMismatch(n, amounts.length);
        if (n == 0) revert ZeroAmount();
        if (tokenIndex[token] == 0) revert UnknownToken(token);
        uint256 total = 0;
        for (uint256 i; i < n; ++i) {
            address account = accounts[i];
            uint256 amount = amounts[i];
            if (account == address(0)) revert ZeroAddress();
            if (amount == 0) revert ZeroAmount();
            if (amount > MAX_BALANCE) revert BalanceOverflow(account, token, balanceOf(account, token), amount);
            total += amount;
        }
        IERC20(token).safeTransferFrom(msg.sender, address(this), total);
        for (uint256 i; i < n; ++i) {
            uint256 balance = _credit(accounts[i], token, amounts[i]);
            emit Deposited(accounts[i], token, amounts[i], balance);
        }
    }

    /// @notice Ask to withdraw `amount` of `token` (adds to a pending request, whose block becomes this one). From
    /// this block on validators count the requested amount as unavailable; `claimWithdrawal` pays it out later.
    /// @param token A listed token.
    /// @param amount Amount to add to the request (not zero; the whole request at most the caller's balance;
    /// refused while the caller has any debt, `DebtOutstanding`).
    function requestWithdrawal(address token, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        if (tokenIndex[token] == 0) revert UnknownToken(token);
        if (hasDebt(msg.sender)) revert DebtOutstanding(msg.sender);
        WithdrawalRequest storage request = withdrawalRequest[msg.sender][token];
        uint256 requested = uint256(request.amount) + amount;
        uint256 balance = balanceOf(msg.sender, token);
        if (requested > balance) revert InsufficientBalance(msg.sender, token, requested, balance);
        request.amount = uint128(requested);
        request.requestBlock = uint64(block.number);
        emit WithdrawalRequested(msg.sender, token, amount, requested, uint64(block.number));
    }

    /// @notice Pay out the caller's pending request for `token`: once a batch certified against a stateBlock at or
    /// after the request's block has settled, or from block requestBlock + maxValidity on. Pays the request, or the
    /// balance if a batch certified before the request left less (never below zero; refused while the caller has
    /// any debt, `DebtOutstanding`).
    /// @param token A listed token with a pending request.
    function claimWithdrawal(address token) external nonReentrant {
        WithdrawalRequest memory request = withdrawalRequest[msg.sender][token];
        if (request.amount == 0) revert NoWithdrawalRequest(msg.sender, token);
        uint256 readyAt = uint256(request.requestBlock) + maxValidity;
        if (lastStateBlock < request.requestBlock && block.number < readyAt) {
            revert WithdrawalNotReady(msg.sender, token, request.requestBlock, readyAt);
        }
        if (hasDebt(msg.sender)) revert DebtOutstanding(msg.sender);
        delete withdrawalRequest[msg.sender][token];
        uint256 balance = balanceOf(msg.sender, token);
        uint256 amount = request.amount < balance ? request.amount : balance;
        if (amount != 0) balance = _adjust(msg.sender, token, -int256(amount));
        emit Withdrawn(msg.sender, token, amount, balance);
        if (amount != 0) IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ lending pools

    /// @notice Lend `amount` of `token` (pulled from the caller's wallet, needs an ERC20 allowance) to its pool for
    /// shares: amount * shares / assets (all of `amount` for the first lender), rounded down.
    /// @param token A listed token.
    /// @param amount Amount to lend (token base units, not zero).
    function lend(address token, uint256 amount) external nonReentrant {
        uint256 index = _listed(token);
        if (amount == 0) revert ZeroAmount();
        Pool memory p = pool[index];
        uint256 assets = uint256(p.cash) + p.borrowed;
        uint256 minted = p.shares == 0 || assets == 0 ? amount : amount * p.shares / assets;
        if (minted == 0) revert ZeroAmount();
        if (uint256(p.cash) + amount > MASK128) revert BalanceOverflow(address(this), token, p.cash, amount);
        p.cash += uint128(amount);
        p.shares += minted;
        pool[index] = p;
        poolShares[msg.sender][index] += minted;
        emit Lent(msg.sender, token, amount, minted);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Ask to redeem `shares` of `token`'s pool (adds to a pending exit, whose block becomes this one).
    /// Validators count the pending shares' value as unavailable for borrowing from this block on.
    /// @param token A listed token.
    /// @param shares Shares to add to the exit (not zero; the whole exit at most the caller's shares).
    function requestPoolExit(address token, uint256 shares) external {
        uint256 index = _listed(token);
        if (shares == 0) revert ZeroAmount();
        WithdrawalRequest storage request = poolExitRequest[msg.sender][index];
        uint256 pending = uint256(request.amount) + shares;
        uint256 held = poolShares[msg.sender][index];
        if (pending > held) revert InsufficientShares(msg.sender, token, pending, held);
        request.amount = uint128(pending);
        request.requestBlock = uint64(block.number);
        emit PoolExitRequested(msg.sender, token, pending, uint64(block.number));
    }

    /// @notice Redeem the caller's pending exit of `token`'s pool for pending * assets / shares (rounded down), when
    /// a withdrawal would be claimable (see `claimWithdrawal`); PoolExhausted while the pool's cash is short.
    /// @param token A listed token with a pending exit.
    function claimPoolExit(address token) external nonReentrant {
        uint256 index = _listed(token);
        WithdrawalRequest memory request = poolExitRequest[msg.sender][index];
        if (request.amount == 0) revert NoWithdrawalRequest(msg.sender, token);
        uint256 readyAt = uint256(request.requestBlock) + maxValidity;
        if (lastStateBlock < request.requestBlock && block.number < readyAt) {
            revert WithdrawalNotReady(msg.sender, token, request.requestBlock, readyAt);
        }
        Pool memory p = pool[index];
        uint256 amount = uint256(request.amount) * (uint256(p.cash) + p.borrowed) / p.shares;
        if (amount > p.cash) revert PoolExhausted(token, amount, p.cash);
        delete poolExitRequest[msg.sender][index];
        poolShares[msg.sender][index] -= request.amount;
        p.cash -= uint128(amount);
        p.shares -= request.amount;
        pool[index] = p;
        emit PoolExited(msg.sender, token, request.amount, amount);
        if (amount != 0) IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ settlement

    /// @notice Settle a certified batch by applying per-account net deltas. Refused while any debt is outstanding
    /// (`SpotBatchWithDebt`: some listed token's pool has borrowed > 0; a spot batch carries no marks to check an
    /// indebted account's collateral against).
    /// @param batch The signed header (sequence, prevHash, merkleRoot, stateBlock, expiresAt).
    /// @param skipped Headers of expired certified batches between the last settled one and `batch`, in order
    /// (usually empty); recorded as skipped, never applied.
    /// @param tradeCount Number of trades in the batch (bound by the deltas leaf).
    /// @param deltas Groups of 32-byte words, one group per account: a header `account << 96 | count`, then
    /// `count` words `tokenIndex << 128 | uint128(int128 delta)`. Every token's deltas must sum to zero; no balance
    /// may go negative and none that is negative (a debt) may be touched (`DebtInSpotBatch`; with no debt
    /// outstanding, which `SpotBatchWithDebt` requires first, there is none).
    /// @param deltasProof Merkle proof of the deltas leaf against `batch.merkleRoot`.
    /// @param signatures Concatenated 65-byte (r, s, v) signatures, signers strictly ascending.
    function settle(
        BatchHeader calldata batch,
        BatchHeader[] calldata skipped,
        uint256 tradeCount,
        bytes calldata deltas,
        bytes32[] calldata deltasProof,
        bytes calldata signatures
    ) external {
        bytes32 batchHash = _checkBatch(batch, skipped, signatures);
        bytes32 leaf = deltasLeaf(tradeCount, deltas);
        if (!MerkleProof.verifyCalldata(deltasProof, batch.merkleRoot, leaf)) {
            revert DeltasNotInBatch(batch.merkleRoot, leaf);
        }
        _requireNoDebt();
        _recordBatch(batch, batchHash);
        uint256 deltaCount = _applyDeltas(deltas);
        emit BatchSettled(batch.sequence, batchHash, batch.merkleRoot, tradeCount, deltaCount);
    }

    /// @notice Settle a certified margin batch: per account its signed balance changes and fees, after which the
    /// account must hold, at the batch's marks, collateral worth at least its debt (negative balances) times
    /// (1 + maintenance rate) (`BelowMaintenance`) unless the batch names it as liquidated; then each pool pays out
    /// the growth of its token's debts and takes in the fees (`PoolExhausted` if that exceeds its cash).
    /// @param batch The signed header; `marginLeaf(margin)` must be a leaf of its merkleRoot.
    /// @param skipped Headers of expired certified batches to skip first (see `settle`).
    /// @param margin Trade count, deltas (balance changes and fees), marks and liquidated accounts.
    /// @param proof Merkle proof of the margin leaf against `batch.merkleRoot`.
    /// @param signatures Concatenated 65-byte (r, s, v) signatures, signers strictly ascending.
    function settleMargin(
        BatchHeader calldata batch,
        BatchHeader[] calldata skipped,
        MarginBatch calldata margin,
        bytes32[] calldata proof,
        bytes calldata signatures
    ) external {
        bytes32 batchHash = _checkBatch(batch, skipped, signatures);
        bytes32 leaf = marginLeaf(margin);
        if (!MerkleProof.verifyCalldata(proof, batch.merkleRoot, leaf)) revert DeltasNotInBatch(batch.merkleRoot, leaf);
        _checkMarks(margin.marks);
        _recordBatch(batch, batchHash);
        uint256 deltaCount = _applyMarginDeltas(margin);
        emit BatchSettled(batch.sequence, batchHash, batch.merkleRoot, margin.tradeCount, deltaCount);
    }

    /// @notice Settle a certified batch by transferring balances trade by trade. Refused while any debt is
    /// outstanding (`SpotBatchWithDebt`, as `settle`).
    /// @param batch The signed header; its merkleRoot must equal the root recomputed from `trades`.
    /// @param skipped Headers of expired certified batches to skip first (see `settle`).
    /// @param trades The batch's trades in leaf order (no balance may go negative or be negative, as in `settle`).
    /// @param signatures Concatenated 65-byte (r, s, v) signatures, signers strictly ascending.
    function settleTrades(
        BatchHeader calldata batch,
        BatchHeader[] calldata skipped,
        SettledTrade[] calldata trades,
        bytes calldata signatures
    ) external {
        bytes32 batchHash = _checkBatch(batch, skipped, signatures);
        bytes32 root = tradesRoot(trades);
        if (root != batch.merkleRoot) revert RootMismatch(batch.merkleRoot, root);
        _requireNoDebt();
        _recordBatch(batch, batchHash);
        address fees = feeAccount;
        for (uint256 i = 0; i < trades.length; ++i) {
            _applyTrade(trades[i], fees);
        }
        emit BatchSettled(batch.sequence, batchHash, batch.merkleRoot, trades.length, 0);
    }

    /// @notice Whether `trade` is a leaf of settled batch `sequence`, proven by `proof` (OpenZeppelin MerkleProof).
    /// @param sequence A settled batch (UnknownBatch otherwise).
    /// @param trade The trade to check.
    /// @param proof Its Merkle proof against the batch's root.
    /// @return Whether the proof holds.
    function verifyTrade(uint64 sequence, SettledTrade calldata trade, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        bytes32 root = batchRoot[sequence];
        if (root == bytes32(0)) revert UnknownBatch(sequence);
        return MerkleProof.verifyCalldata(proof, root, tradeLeaf(trade));
    }

    /// @notice verifyTrade for many trades of settled batch `sequence` in one call; ok[i] answers trades[i].
    /// @param sequence A settled batch (UnknownBatch otherwise).
    /// @param trades The trades to check.
    /// @param proofs One Merkle proof per trade.
    /// @return ok Whether each proof holds.
    function verifyTrades(uint64 sequence, SettledTrade[] calldata trades, bytes32[][] calldata proofs)
        external
        view
        returns (bool[] memory ok)
    {
        bytes32 root = batchRoot[sequence];
        if (root == bytes32(0)) revert UnknownBatch(sequence);
        if (proofs.length != trades.length) revert ProofCountMismatch(trades.length, proofs.length);
        ok = new bool[](trades.length);
        for (uint256 i = 0; i < trades.length; ++i) {
            ok[i] = MerkleProof.verifyCalldata(proofs[i], root, tradeLeaf(trades[i]));
        }
    }

    /// @notice Custodied balance of `account` in `token` (token base units): max(0, signed balance).
    /// @param account The account.
    /// @param token The token (0 for an unlisted one).
    /// @return The balance.
    function balanceOf(address account, address token) public view returns (uint256) {
        int256 signed = signedBalanceOf(account, token);
        return signed > 0 ? uint256(signed) : 0;
    }

    /// @notice Signed balance of `account` in `token`: negative is a debt to the token's pool.
    /// @param account The account.
    /// @param token The token (0 for an unlisted one).
    /// @return The signed balance (token base units).
    function signedBalanceOf(address account, address token) public view returns (int256) {
        uint256 index = tokenIndex[token];
        if (index == 0) return 0;
        return _half(_packed[account][(index - 1) >> 1], index);
    }

    /// @notice balanceOf for many (account, token) pairs in one call (reconciliation reads every balance).
    /// @param accounts The accounts.
    /// @param tokens The token of each account (as many as `accounts`).
    /// @return out balanceOf(accounts[i], tokens[i]) for each i.
    function balancesOf(address[] calldata accounts, address[] calldata tokens)
        external
        view
        returns (uint256[] memory out)
    {
        if (accounts.length != tokens.length) revert LengthMismatch(accounts.length, tokens.length);
        out = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            out[i] = balanceOf(accounts[i], tokens[i]);
        }
    }

    /// @notice batchRoot for many sequences in one call.
    /// @param sequences The batch sequence numbers.
    /// @return roots batchRoot(sequences[i]) for each i (zero for a sequence not settled).
    function batchRoots(uint64[] calldata sequences) external view returns (bytes32[] memory roots) {
        roots = new bytes32[](sequences.length);
        for (uint256 i; i < sequences.length; ++i) {
            roots[i] = batchRoot[sequences[i]];
        }
    }

    /// @notice Debt of `account` in `token` (principal and fees, token base units): max(0, -signed balance).
    /// @param account The account.
    /// @param token The token (0 for an unlisted one).
    /// @return The debt.
    function debtOf(address account, address token) public view returns (uint256) {
        int256 signed = signedBalanceOf(account, token);
        return signed < 0 ? uint256(-signed) : 0;
    }

    /// @notice Whether `account` owes any pool anything (some balance is negative).
    /// @param account The account.
    /// @return True when some debt is not zero.
    function hasDebt(address account) public view returns (bool) {
        mapping(uint256 => uint256) storage words = _packed[account];
        uint256 slots = (tokenCount + 1) >> 1;
        for (uint256 k = 0; k < slots; ++k) {
            if (words[k] & SIGNS != 0) return true;
        }
        return false;
    }

    /// @notice What `account` holds against what it must hold at `marks` (one per listed token): available is the
    /// marked value of its balances, required its marked debt times (1 + maintenance rate), rounded up.
    /// @param account The account.
    /// @param marks Mark of each listed token, by index - 1.
    /// @return required The maintenance requirement.
    /// @return available The collateral value.
    function marginOf(address account, uint256[] calldata marks)
        public
        view
        returns (uint256 required, uint256 available)
    {
        if (marks.length != tokenCount) revert MarksLength(tokenCount, marks.length);
        (required, available) = _margin(account, _marginParams(marks));
        required = (required + BPS - 1) / BPS;
        available /= BPS;
    }

    /// @notice Merkle leaf committing to a margin batch: trade count, deltas, marks and liquidated accounts.
    /// @param margin The margin batch.
    /// @return The leaf.
    function marginLeaf(MarginBatch calldata margin) public pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        MARGIN_LEAF_TAG,
                        margin.tradeCount,
                        keccak256(margin.deltas),
                        keccak256(abi.encode(margin.marks)),
                        keccak256(abi.encode(margin.liquidated))
                    )
                )
            )
        );
    }

    /// @notice The EIP-712 digest validators sign for `batch` on this chain and contract.
    /// @param batch The batch header.
    /// @return The digest to sign.
    function batchDigest(BatchHeader calldata batch) public view returns (bytes32) {
        return _hashTypedDataV4(batchStructHash(batch));
    }

    /// @notice The EIP-712 struct hash of `batch`; a settled batch's struct hash is the next batch's prevHash.
    /// @param batch The batch header.
    /// @return The struct hash.
    function batchStructHash(BatchHeader calldata batch) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                BATCH_TYPEHASH, batch.sequence, batch.prevHash, batch.merkleRoot, batch.stateBlock, batch.expiresAt
            )
        );
    }

    /// @notice Merkle leaf of a settled trade.
    /// @param trade The trade.
    /// @return keccak256(keccak256(abi.encode(trade))).
    function tradeLeaf(SettledTrade calldata trade) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(trade))));
    }

    /// @notice Merkle leaf committing to a batch's trade count and encoded net deltas.
    /// @param tradeCount Number of trades in the batch.
    /// @param deltas The encoded net deltas (see `settle`).
    /// @return The deltas leaf.
    function deltasLeaf(uint256 tradeCount, bytes calldata deltas) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(DELTAS_LEAF_TAG, tradeCount, keccak256(deltas)))));
    }

    /// @notice Merkle root of trade leaves: level by level, sorted-pair keccak, an odd last node moves up as is.
    /// @param trades The trades in leaf order (not empty).
    /// @return The root.
    function tradesRoot(SettledTrade[] calldata trades) public pure returns (bytes32) {
        uint256 n = trades.length;
        if (n == 0) revert EmptyBatch();
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            level[i] = tradeLeaf(trades[i]);
        }
        while (n > 1) {
            uint256 half = n / 2;
            for (uint256 i = 0; i < half; ++i) {
                level[i] = Hashes.commutativeKeccak256(level[2 * i], level[2 * i + 1]);
            }
            if (n % 2 == 1) {
                level[half] = level[n - 1];
                n = half + 1;
            } else {
                n = half;
            }
        }
        return level[0];
    }

    // ------------------------------------------------------------------ governance

    /// @notice List a token for custody and settlement; it gets the next index (listing is permanent). Listing is
    /// governed because every settled batch checks conservation for every listed token.
    /// @param token The ERC20 to list (not zero, not listed yet).
    function listToken(address token) external onlyOwner {
        if (token == address(0)) revert ZeroAddress();
        if (tokenIndex[token] != 0) revert TokenAlreadyListed(token, tokenIndex[token]);
        uint256 index = ++tokenCount;
        tokenIndex[token] = index;
        tokenAt[index] = token;
        emit TokenListed(token, index);
    }

    /// @notice Set the maintenance requirement of borrowing `token`: collateral worth (1 + bps / 10000) times the
    /// marked debt. Applies to every margin batch settled after the change.
    /// @param token A listed token.
    /// @param bps Basis points above the borrowed value (at most 100000).
    function setMaintenance(address token, uint256 bps) external onlyOwner {
        uint256 index = _listed(token);
        if (bps > 10 * BPS) revert InvalidMaintenance(token, bps);
        maintenanceBps[index] = bps;
        emit MaintenanceSet(token, bps);
    }

    /// @notice Set the account that receives trading fees in per-trade mode.
    /// @param newFeeAccount The new fee receiver (not zero).
    function setFeeAccount(address newFeeAccount) external onlyOwner {
        _setFeeAccount(newFeeAccount);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Skips the expired `skipped` headers, then checks sequence, hash chain, validity window and quorum
    /// certificate of `batch`; returns its struct hash. Skips are recorded here (a revert later undoes them).
    function _checkBatch(BatchHeader calldata batch, BatchHeader[] calldata skipped, bytes calldata signatures)
        private
        returns (bytes32)
    {
        uint64 expected = lastSequence + 1;
        bytes32 prev = lastBatchHash;
        for (uint256 i = 0; i < skipped.length; ++i) {
            BatchHeader calldata s = skipped[i];
            if (s.sequence != expected) revert UnexpectedSequence(expected, s.sequence);
            if (s.prevHash != prev) revert PrevHashMismatch(prev, s.prevHash);
            if (block.number <= s.expiresAt) revert SkippedNotExpired(s.sequence, s.expiresAt, block.number);
            prev = batchStructHash(s);
            emit BatchSkipped(s.sequence, prev, s.expiresAt);
            unchecked {
                ++expected;
            }
        }
        if (batch.sequence != expected) revert UnexpectedSequence(expected, batch.sequence);
        if (batch.prevHash != prev) revert PrevHashMismatch(prev, batch.prevHash);
        if (block.number > batch.expiresAt) revert CertificateExpired(batch.sequence, batch.expiresAt, block.number);
        if (batch.stateBlock >= block.number) revert StateBlockNotPast(batch.sequence, batch.stateBlock, block.number);
        if (batch.stateBlock < lastStateBlock) {
            revert StateBlockBehind(batch.sequence, batch.stateBlock, lastStateBlock);
        }
        if (batch.expiresAt > uint256(batch.stateBlock) + maxValidity) {
            revert ValidityTooLong(batch.sequence, batch.stateBlock, batch.expiresAt, maxValidity);
        }
        bytes32 structHash = batchStructHash(batch);
        _checkQuorum(_hashTypedDataV4(structHash), signatures);
        return structHash;
    }

    /// @dev A spot batch is refused while any pool has debt outstanding (`SpotBatchWithDebt`, naming the first such
    /// token): it carries no marks, so it could move an indebted account's collateral unchecked. One SLOAD per
    /// listed token per batch (a pool's cash and borrowed share a slot).
    function _requireNoDebt() private view {
        uint256 tokens = tokenCount;
        for (uint256 index = 1; index <= tokens; ++index) {
            uint256 borrowed = pool[index].borrowed;
            if (borrowed != 0) revert SpotBatchWithDebt(tokenAt[index], borrowed);
        }
    }

    function _recordBatch(BatchHeader calldata batch, bytes32 batchHash) private {
        lastSequence = batch.sequence;
        lastStateBlock = batch.stateBlock;
        lastBatchHash = batchHash;
        batchRoot[batch.sequence] = batch.merkleRoot;
    }

    /// @dev Applies the per-account deltas; returns how many (account, token) deltas were applied. The hot loop
    /// reads calldata and addresses storage in assembly, keeps the current packed slot in a local (two tokens of
    /// an account share it: one SLOAD and one SSTORE for both) and sums each token's deltas in memory.
    function _applyDeltas(bytes calldata deltas) private returns (uint256 applied) {
        uint256 length = deltas.length;
        if (length % 32 != 0) revert MalformedDeltas(length, length);
        uint256 tokens = tokenCount;
        int256[] memory sums = new int256[](tokens + 1);
        uint256 offset = 0;
        while (offset < length) {
            uint256 header;
            uint256 base;
            assembly ("memory-safe") {
                base := add(deltas.offset, offset)
                header := calldataload(base)
            }
            address account = address(uint160(header >> 96));
            uint256 count = uint96(header);
            if (count == 0 || count > (length - offset - 32) / 32) revert MalformedDeltas(offset, length);
            bytes32 accountSlot;
            assembly ("memory-safe") {
                mstore(0, account)
                mstore(32, _packed.slot)
                accountSlot := keccak256(0, 64)
            }
            uint256 cached = type(uint256).max; // index of the slot held in `word` (none yet)
            bytes32 slot;
            uint256 word;
            for (uint256 i = 1; i <= count; ++i) {
                uint256 entry;
                assembly ("memory-safe") {
                    entry := calldataload(add(base, mul(i, 32)))
                }
                uint256 index = entry >> 128;
                if (index == 0 || index > tokens) revert UnknownTokenIndex(offset + 32 * i, index);
                uint256 k = (index - 1) >> 1;
                if (k != cached) {
                    if (cached != type(uint256).max) {
                        assembly ("memory-safe") {
                            sstore(slot, word)
                        }
                    }
                    assembly ("memory-safe") {
                        mstore(0, k)
                        mstore(32, accountSlot)
                        slot := keccak256(0, 64)
                        word := sload(slot)
                    }
                    cached = k;
                }
                word = _applyHalf(word, index, int128(uint128(entry)), account);
                unchecked {
                    sums[index] += int128(uint128(entry)); // int128 terms, calldata-size many: cannot overflow
                }
            }
            assembly ("memory-safe") {
                sstore(slot, word)
            }
            unchecked {
                offset += 32 + count * 32;
                applied += count;
            }
        }
        for (uint256 index = 1; index <= tokens; ++index) {
            if (sums[index] != 0) revert ValueNotConserved(tokenAt[index], sums[index]);
        }
    }

    /// @dev Spot: `word` with token `index`'s half changed by `delta` (checked: the half is not negative — a debt is
    /// moved by margin batches only — and stays in 0..int128 max).
    function _applyHalf(uint256 word, uint256 index, int256 delta, address account) private view returns (uint256) {
        uint256 shift = (index & 1 == 1) ? 0 : 128;
        uint256 value = (word >> shift) & MASK128;
        if (value > MAX_BALANCE) revert DebtInSpotBatch(account, tokenAt[index], (1 << 128) - value);
        if (delta < 0) {
            uint256 needed = uint256(-delta);
            if (value < needed) revert InsufficientBalance(account, tokenAt[index], needed, value);
            unchecked {
                value -= needed;
            }
        } else {
            uint256 credit = uint256(delta);
            if (value + credit > MAX_BALANCE) revert BalanceOverflow(account, tokenAt[index], value, credit);
            unchecked {
                value += credit;
            }
        }
        return (word & ~(MASK128 << shift)) | (value << shift);
    }

    /// @dev The signed int128 balance of token `index` in its packed slot `word`.
    function _half(uint256 word, uint256 index) private pure returns (int256) {
        return int128(uint128(index & 1 == 1 ? word : word >> 128));
    }

    /// @dev Every listed token has a mark, none zero or above MAX_MARK.
    function _checkMarks(uint256[] calldata marks) private view {
        uint256 tokens = tokenCount;
        if (marks.length != tokens) revert MarksLength(tokens, marks.length);
        for (uint256 i = 0; i < tokens; ++i) {
            if (marks[i] == 0 || marks[i] > MAX_MARK) revert InvalidMark(i + 1, marks[i]);
        }
    }

    /// @dev `_applyDeltas` for a margin batch: every entry through the account's cached packed slot (one SLOAD and
    /// one SSTORE per slot, as spot), each account's maintenance checked once its group is applied (reading only
    /// its balance slots, warm), then the pools.
    function _applyMarginDeltas(MarginBatch calldata margin) private returns (uint256 applied) {
        bytes calldata deltas = margin.deltas;
        uint256 length = deltas.length;
        if (length % 32 != 0) revert MalformedDeltas(length, length);
        // per token index: sums[3i] every balance change (kind 0 and -fee), sums[3i+1] fees, sums[3i+2] dNeg (the
        // change of the debts: sum of max(0, -new) - max(0, -old) over the entries)
        int256[] memory sums = new int256[](3 * (tokenCount + 1));
        uint256[] memory params = _marginParams(margin.marks);
        address[] calldata liquidated = margin.liquidated;
        uint256 offset = 0;
        while (offset < length) {
            uint256 base;
            uint256 count;
            assembly ("memory-safe") {
                base := add(deltas.offset, offset)
                count := and(calldataload(base), 0xffffffffffffffffffffffff)
            }
            if (count == 0 || count > (length - offset - 32) / 32) revert MalformedDeltas(offset, length);
            _marginGroup(liquidated, base, count, sums, params);
            unchecked {
                offset += 32 + count * 32;
                applied += count;
            }
        }
        _settlePools(sums);
    }

    /// @dev The account group at calldata position `base` with `count` entries (checked by the caller): applied
    /// (`_applyGroup`), a liquidated account's borrowing refused, an indebted account's maintenance checked.
    function _marginGroup(
        address[] calldata liquidated,
        uint256 base,
        uint256 count,
        int256[] memory sums,
        uint256[] memory params
    ) private {
        address account;
        assembly ("memory-safe") {
            account := shr(96, calldataload(base))
        }
        (bool borrowed, uint256 word) = _applyGroup(account, base, count, sums);
        if (borrowed && _contains(liquidated, account)) revert LiquidatedBorrows(account);
        // indebted iff a balance is negative: with one slot per account (up to two tokens, sums.length 9) that is
        // the slot the group just wrote (no storage read), else every slot is read
        uint256 required;
        uint256 available;
        if (sums.length <= 9) {
            if (word & SIGNS == 0) return;
            (required, available) = _weigh(word, 1, params);
        } else {
            (required, available) = _margin(account, params);
        }
        if (available < required) _belowMaintenance(account, liquidated, required, available);
    }

    /// @dev One account's entries (calldata words base+32 .. base+32*count), through a cached packed slot: kind 0
    /// changes the signed balance by v, kind 1 debits fee v >= 0. Returns whether a kind-0 entry grew a debt (the
    /// account borrowed: refused for a liquidated account by the caller) and the last slot written.
    function _applyGroup(address account, uint256 base, uint256 count, int256[] memory sums)
        private
        returns (bool borrowed, uint256 word)
    {
        bytes32 accountSlot;
        assembly ("memory-safe") {
            mstore(0, account)
            mstore(32, _packed.slot)
            accountSlot := keccak256(0, 64)
        }
        uint256 cached = type(uint256).max;
        bytes32 slot;
        for (uint256 i = 0; i < count; ++i) {
            uint256 entry;
            assembly ("memory-safe") {
                entry := calldataload(add(base, mul(add(i, 1), 32)))
            }
            {
                uint256 k;
                unchecked { // index 0 wraps (and an unlisted index reads an unused slot): _marginEntry refuses both
                    k = (((entry >> 128) & type(uint120).max) - 1) >> 1;
                }
                if (k != cached) {
                    if (cached != type(uint256).max) {
                        assembly ("memory-safe") {
                            sstore(slot, word)
                        }
                    }
                    cached = k;
                    assembly ("memory-safe") {
                        mstore(0, k)
                        mstore(32, accountSlot)
                        slot := keccak256(0, 64)
                        word := sload(slot)
                    }
                }
            }
            bool grew;
            (word, grew) = _marginEntry(account, word, entry, i + 1, sums);
            if (grew) borrowed = true;
        }
        if (cached != type(uint256).max) {
            assembly ("memory-safe") {
                sstore(slot, word)
            }
        }
    }

    /// @dev Applies margin entry word `kind << 248 | index << 128 | uint128(v)` (word `position` of its group) to
    /// `word`, the account's packed slot holding token `index`: kind 0 changes the signed balance by v, kind 1
    /// (v >= 0) debits fee v (`MalformedDeltas` for other kinds or a negative fee; `UnknownTokenIndex`;
    /// `BalanceOutOfRange` if the result leaves int128). Adds the change, the fee and the debt's change
    /// (max(0, -new) - max(0, -old)) to the token's sums; returns the new word and whether a kind-0 entry grew the
    /// debt (the account borrowed).
    function _marginEntry(address account, uint256 word, uint256 entry, uint256 position, int256[] memory sums)
        private
        view
        returns (uint256, bool grew)
    {
        uint256 kind = entry >> 248;
        int256 change = int128(uint128(entry));
        if (kind > 1 || (kind == 1 && change < 0)) revert MalformedDeltas(kind, entry);
        uint256 index = (entry >> 128) & type(uint120).max;
        unchecked { // index below 2**120: no overflow
            if (index == 0 || 3 * index >= sums.length) revert UnknownTokenIndex(position, index);
        }
        uint256 shift = (index & 1 == 1) ? 0 : 128;
        int256 old = int128(uint128(word >> shift));
        unchecked { // int128 terms: the sums below are int128-bounded and calldata-size many, no overflow
            int256 fee = 0;
            if (kind == 1) {
                fee = change;
                change = -change;
            }
            int256 next = old + change;
            if (next > type(int128).max || next < type(int128).min) {
                revert BalanceOutOfRange(account, tokenAt[index], old, change);
            }
            int256 dDebt = (next < 0 ? -next : int256(0)) - (old < 0 ? -old : int256(0));
            // sums[3 * index .. 3 * index + 2] += (change, fee, dDebt); index checked above
            assembly ("memory-safe") {
                let p := add(add(sums, 32), mul(index, 96))
                mstore(p, add(mload(p), change))
                mstore(add(p, 32), add(mload(add(p, 32)), fee))
                mstore(add(p, 64), add(mload(add(p, 64)), dDebt))
            }
            grew = kind == 0 && dDebt > 0;
            return ((word & ~(MASK128 << shift)) | (uint256(uint128(int128(next))) << shift), grew);
        }
    }

    /// @dev Per token: kind-0 changes must sum to zero (all balance changes to minus the fees); the pool's debts
    /// grow by dNeg and its cash by fees - dNeg (it pays out new borrowing, takes in repayments and fees), so its
    /// assets grow by the fees and P + cash is unchanged (see the contract's custody note). One write and one
    /// PoolChanged per changed pool.
    function _settlePools(int256[] memory sums) private {
        for (uint256 index = 1; 3 * index < sums.length; ++index) {
            int256 fees = sums[3 * index + 1];
            int256 dNeg = sums[3 * index + 2];
            int256 imbalance = sums[3 * index] + fees; // the kind-0 sum
            if (imbalance != 0) revert ValueNotConserved(tokenAt[index], imbalance);
            if (fees == 0 && dNeg == 0) continue;
            Pool storage p = pool[index];
            uint256 cash = p.cash;
            int256 newCash = int256(cash) + fees - dNeg; // int128-bounded terms: no overflow
            if (newCash < 0) revert PoolExhausted(tokenAt[index], uint256(dNeg - fees), cash);
            int256 newBorrowed = int256(uint256(p.borrowed)) + dNeg;
            if (newCash > int256(MASK128) || newBorrowed < 0 || newBorrowed > int256(MASK128)) {
                revert PoolOutOfRange(tokenAt[index], newCash, newBorrowed);
            }
            p.cash = uint128(uint256(newCash));
            p.borrowed = uint128(uint256(newBorrowed));
            emit PoolChanged(tokenAt[index], uint256(newCash), uint256(newBorrowed));
        }
    }

    /// @dev `account`, with debt, is below maintenance (scaled `required` > `available`): refused unless the batch
    /// liquidates it (then reported).
    function _belowMaintenance(
        address account,
        address[] calldata liquidated,
        uint256 required,
        uint256 available
    ) private {
        required = (required + BPS - 1) / BPS;
        available /= BPS;
        if (!_contains(liquidated, account)) revert BelowMaintenance(account, required, available);
        emit LiquidatedBelowMaintenance(lastSequence, account, required, available); // this batch, recorded
    }

    /// @dev The batch's valuation parameters in memory: params[2i] the mark of token index i, params[2i+1]
    /// BPS + maintenanceBps[i] (0 until `_rate` reads it: once per batch, only for a token someone owes).
    function _marginParams(uint256[] calldata marks) private pure returns (uint256[] memory params) {
        params = new uint256[](2 * (marks.length + 1));
        for (uint256 i = 0; i < marks.length; ++i) {
            params[2 * i + 2] = marks[i];
        }
    }

    /// @dev Requirement and collateral of `account`, both scaled by BPS; (0, 0) without debt. Reads only the
    /// account's packed balance slots (see `_weigh`).
    function _margin(address account, uint256[] memory params)
        private
        view
        returns (uint256 required, uint256 available)
    {
        uint256 slots = params.length >> 2; // (tokens + 1) / 2, params holding 2 * (tokens + 1) words
        mapping(uint256 => uint256) storage words = _packed[account];
        bool indebted = false;
        for (uint256 k = 0; k < slots; ++k) {
            uint256 word = words[k];
            if (word == 0) continue;
            if (word & SIGNS != 0) indebted = true;
            (uint256 r, uint256 a) = _weigh(word, 2 * k + 1, params);
            required += r;
            available += a;
        }
        if (!indebted) return (0, 0);
    }

    /// @dev One packed slot's part of the margin, tokens `index` (low half) and `index + 1` (high half; zero past
    /// the last listed token): required = sum over negative balances of |b| * mark * (BPS + rate), available = sum
    /// over positive ones of b * mark * BPS. Each product is below 2**127 * MAX_MARK * 11 * BPS < 2**241, so the
    /// two-term sums cannot overflow (unchecked); `_margin` adds slots checked.
    function _weigh(uint256 word, uint256 index, uint256[] memory params)
        private
        view
        returns (uint256 required, uint256 available)
    {
        int256 low = int128(uint128(word));
        int256 high = int128(uint128(word >> 128));
        unchecked {
            if (low < 0) required = uint256(-low) * params[2 * index] * _rate(index, params);
            else if (low > 0) available = uint256(low) * params[2 * index] * BPS;
            if (high < 0) required += uint256(-high) * params[2 * index + 2] * _rate(index + 1, params);
            else if (high > 0) available += uint256(high) * params[2 * index + 2] * BPS;
        }
    }

    /// @dev BPS + maintenanceBps[index], read from storage once per batch (cached in params[2 * index + 1]).
    function _rate(uint256 index, uint256[] memory params) private view returns (uint256 rate) {
        rate = params[2 * index + 1];
        if (rate == 0) {
            rate = BPS + maintenanceBps[index];
            params[2 * index + 1] = rate;
        }
    }

    /// @dev Whether `account` is in `accounts` (short lists: linear scan).
    function _contains(address[] calldata accounts, address account) private pure returns (bool) {
        for (uint256 i = 0; i < accounts.length; ++i) {
            if (accounts[i] == account) return true;
        }
        return false;
    }

    /// @dev The index of a listed token (UnknownToken otherwise).
    function _listed(address token) private view returns (uint256 index) {
        index = tokenIndex[token];
        if (index == 0) revert UnknownToken(token);
    }

    function _applyTrade(SettledTrade calldata t, address fees) private {
        if (t.sellerFee > t.quoteAmount) revert FeeExceedsAmount(t.tradeId, t.sellerFee, t.quoteAmount);
        int256 base = SafeCast.toInt256(t.baseAmount);
        _adjust(t.seller, t.baseToken, -base);
        _adjust(t.buyer, t.baseToken, base);
        _adjust(t.buyer, t.quoteToken, -SafeCast.toInt256(t.quoteAmount + t.buyerFee));
        _adjust(t.seller, t.quoteToken, SafeCast.toInt256(t.quoteAmount - t.sellerFee));
        uint256 fee = t.buyerFee + t.sellerFee;
        if (fee != 0) _adjust(fees, t.quoteToken, SafeCast.toInt256(fee));
    }

    /// @dev Changes one non-negative custodied balance (withdrawal, per-trade settlement; `_applyHalf`'s checks);
    /// returns the new balance.
    function _adjust(address account, address token, int256 delta) private returns (uint256) {
        uint256 index = tokenIndex[token];
        if (index == 0) revert UnknownToken(token);
        uint256 k = (index - 1) >> 1;
        uint256 word = _applyHalf(_packed[account][k], index, delta, account);
        _packed[account][k] = word;
        return index & 1 == 1 ? word & MASK128 : word >> 128;
    }

    /// @dev Credits a deposit of `amount` (at most int128 max) to `account`'s signed balance of listed `token`; a
    /// negative balance repays the pool first: borrowed falls and cash rises by the repaid part (`DebtRepaid`,
    /// `PoolChanged`). Returns the new balance (0 while a debt is left).
    function _credit(address account, address token, uint256 amount) private returns (uint256) {
        uint256 index = tokenIndex[token];
        uint256 k = (index - 1) >> 1;
        uint256 shift = (index & 1 == 1) ? 0 : 128;
        uint256 word = _packed[account][k];
        int256 old = int128(uint128(word >> shift));
        int256 next = old + int256(amount);
        if (next > type(int128).max) revert BalanceOverflow(account, token, uint256(old), amount);
        _packed[account][k] = (word & ~(MASK128 << shift)) | (uint256(uint128(int128(next))) << shift);
        if (old < 0) {
            uint256 debt = uint256(-old);
            uint256 repaid = amount < debt ? amount : debt;
            Pool storage p = pool[index];
            uint256 cash = uint256(p.cash) + repaid;
            if (cash > MASK128) revert BalanceOverflow(address(this), token, p.cash, repaid);
            uint256 borrowed = uint256(p.borrowed) - repaid; // borrowed is the sum of the debts: >= this one
            p.cash = uint128(cash);
            p.borrowed = uint128(borrowed);
            emit DebtRepaid(account, token, repaid, debt - repaid);
            emit PoolChanged(token, cash, borrowed);
        }
        return next > 0 ? uint256(next) : 0;
    }

    /// @dev Pulls the tokens first (checked by SafeERC20), then credits: the guard rules out reentrancy.
    function _deposit(address account, address token, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        if (tokenIndex[token] == 0) revert UnknownToken(token);
        if (amount > MAX_BALANCE) revert BalanceOverflow(account, token, balanceOf(account, token), amount);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 balance = _credit(account, token, amount);
        emit Deposited(account, token, amount, balance);
    }

    /// @dev Governance events name the next batch's sequence number.
    function _effectiveFrom() internal view override returns (uint64) {
        return lastSequence + 1;
    }

    function _setFeeAccount(address newFeeAccount) private {
        if (newFeeAccount == address(0)) revert ZeroAddress();
        emit FeeAccountChanged(feeAccount, newFeeAccount);
        feeAccount = newFeeAccount;
    }
}
