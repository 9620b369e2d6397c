"""The hash-chained trade log: certified batches, each committing to its parent, its Merkle root and its trades.

A block's hash is the EIP-712 struct hash of Batch(sequence=height, prevHash=parent hash, merkleRoot, stateBlock,
expiresAt) (the last two: the chain block the validators checked balances at, and the certificate's expiry block); the
quorum certificate signs the domain-bound digest of the same struct, so the log's head hash is what on-chain
settlement anchors as the next batch's prevHash. Genesis is height 0 with hash bytes32(0).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, KeysView, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.consensus.merkle import LeafEncoder, MerkleTree, default_leaf_encoder, leaf_hash, verify_proof
from market_sim.consensus.signing import GENESIS_HASH, SigningDomain, batch_digest, batch_struct_hash, try_recover

__all__ = ["QuorumCertificate", "LogBlock", "TradeLog", "LogVerification", "TradeProof", "ExtraLeaves"]

ExtraLeaves = Callable[[Sequence[Trade]], Sequence[bytes]]  # trades -> extra 32-byte leaf hashes after theirs


_TRADE_FIELDS = tuple(f.name for f in fields(Trade))  # to_json: a trade's fields (asdict deep-copies: ~9x slower)


_TREE_MEMO = 256  # batches remembered per leaf encoder (~35 KB per 250-trade batch; a 1 h settled run certifies ~200)
_trees: weakref.WeakKeyDictionary[object, dict[tuple, MerkleTree]] = weakref.WeakKeyDictionary()


def _batch_tree(trades: tuple[Trade, ...], leaf_encoder: LeafEncoder, extra: tuple[bytes, ...]) -> MerkleTree:
    # A batch's tree is a function of its trades (frozen values, compared by content), the leaf encoder and the extra
    # leaves: every validator's log, the leader building a block, the certifier checking it and each honest log's
    # verify() at the end hash a batch once. Remembered per encoder (its owner, weakly: a finished run's go with it).
    owner = getattr(leaf_encoder, "__self__", leaf_encoder)
    try:
        memo = _trees.setdefault(owner, {})
    except TypeError:  # not weakly referenceable: no memo
        return MerkleTree.of_trades(trades, leaf_encoder, extra)
    key = (trades, getattr(leaf_encoder, "__func__", None), extra)
    tree = memo.get(key)
    if tree is None:
        tree = MerkleTree.of_trades(trades, leaf_encoder, extra)
        if len(memo) >= _TREE_MEMO:
            del memo[next(iter(memo))]
        memo[key] = tree
    return tree


@dataclass(frozen=True, slots=True)
class QuorumCertificate:
    """Distinct validators' 65-byte signatures over one batch digest, sorted by signer address (ascending)."""

    digest: bytes
    signatures: tuple[tuple[str, bytes], ...]

    @classmethod
    def build(cls, digest: bytes, signatures: Mapping[str, bytes]) -> QuorumCertificate:
        """From signer address -> signature; sorted by address as contracts checking 'no duplicate signer' expect."""
        return cls(digest, tuple(sorted(signatures.items(), key=lambda kv: int(kv[0], 16))))

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(a for a, _ in self.signatures)

    @property
    def signature_bytes(self) -> list[bytes]:
        """The signatures alone, in signer order: the `bytes[]` argument of the settlement call."""
        return [s for _, s in self.signatures]

    def problems(self, validators: Iterable[str], threshold: int) -> list[str]:
        """Everything wrong with this certificate for the given validator set and threshold (empty if valid)."""
        allowed = set(validators)
        out, good = [], set()
        for address, sig in self.signatures:
            signer = try_recover(self.digest, sig)
            if signer is None or signer != address:
                out.append(f"signature of {address} does not recover to it")
            elif signer not in allowed:
                out.append(f"{signer} is not a validator")
            elif signer in good:
                out.append(f"duplicate signer {signer}")
            else:
                good.add(signer)
        if len(good) < threshold:
            out.append(f"{len(good)} valid distinct signatures, threshold is {threshold}")
        return out


@dataclass(frozen=True, slots=True)
class LogBlock:
    """One certified batch: height, parent hash, Merkle root of its trades, the trades and the certificate."""

    height: int
    parent_hash: bytes
    merkle_root: bytes
    trades: tuple[Trade, ...]
    qc: QuorumCertificate | None = None
    state_block: int = 0   # the chain block whose balances the validators checked the batch against
    expires_at: int = 0    # the last block in which the certificate can settle (0: never expires)
    hash: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trades", tuple(self.trades))
        object.__setattr__(self, "hash", batch_struct_hash(self.height, self.parent_hash, self.merkle_root,
                                                           self.state_block, self.expires_at))

    def digest(self, domain: SigningDomain) -> bytes:
        """The EIP-712 digest validators sign for this block."""
        return batch_digest(domain, self.height, self.parent_hash, self.merkle_root, self.state_block,
                            self.expires_at)

    def with_qc(self, qc: QuorumCertificate) -> LogBlock:
        return LogBlock(self.height, self.parent_hash, self.merkle_root, self.trades, qc, self.state_block,
                        self.expires_at)


@dataclass(frozen=True, slots=True)
class TradeProof:
    """Everything needed to prove one trade on-chain: `verifyTrade(height, leaf, proof)` against `root`."""

    trade: Trade
    height: int
    index: int
    leaf: bytes
    proof: tuple[bytes, ...]
    root: bytes

    def verify(self) -> bool:
        return verify_proof(self.proof, self.root, self.leaf)


@dataclass(frozen=True, slots=True)
class LogVerification:
    """Outcome of checking a log from genesis; `height` is where the first problem is (None if ok)."""

    ok: bool
    blocks: int
    height: int | None = None
    reason: str = ""


class TradeLog:
    """A node's finalized, certified batches; append() checks each block, verify() re-checks all from genesis."""

    def __init__(self, domain: SigningDomain | None = None, *, validators: Sequence[str] = (), threshold: int = 0,
                 leaf_encoder: LeafEncoder = default_leaf_encoder, extra_leaves: ExtraLeaves | None = None) -> None:
        self.domain = domain or SigningDomain()
        self.validators = tuple(validators)
        self.threshold = threshold
        self.leaf_encoder = leaf_encoder
        self.extra_leaves = extra_leaves
        self.blocks: list[LogBlock] = []
        self._index: dict[int, tuple[int, int]] = {}  # trade_id -> (height, position)
        # Heights whose certificate expired unsettled (settlement skipped them on chain): they stay in the log (so
        # log and chain never diverge) but hold no trade; their trades may be certified again at a later height.
        self.expired: set[int] = set()

    def __len__(self) -> int:
        return len(self.blocks)

    @property
    def height(self) -> int:
        return len(self.blocks)

    @property
    def head_hash(self) -> bytes:
        """Hash of the last block (bytes32(0) for an empty log): the prevHash of the next batch."""
        return self.blocks[-1].hash if self.blocks else GENESIS_HASH

    def tree(self, trades: Sequence[Trade]) -> MerkleTree:
        """The Merkle tree of a batch: trade leaves, then the extra leaves hook's (do not change the tree)."""
        trades = tuple(trades)
        extra = tuple(self.extra_leaves(trades)) if self.extra_leaves is not None else ()
        return _batch_tree(trades, self.leaf_encoder, extra)

    def next_block(self, trades: Sequence[Trade], *, state_block: int = 0, expires_at: int = 0) -> LogBlock:
        """The uncertified block that would extend this log with `trades` (checked at chain block `state_block`,
        its certificate valid up to block `expires_at`)."""
        if not trades:
            raise ConsensusError("a batch needs at least one trade")
        return LogBlock(self.height + 1, self.head_hash, self.tree(trades).root, tuple(trades), None, state_block,
                        expires_at)

    def _problem(self, block: LogBlock, height: int, parent: bytes) -> str | None:
        if block.height != height:
            return f"height is {block.height}, expected {height}"
        if block.parent_hash != parent:
            return f"parent hash {block.parent_hash.hex()} does not match block {height - 1} ({parent.hex()})"
        if not block.trades:
            return "block has no trades"
        if self.tree(block.trades).root != block.merkle_root:
            return "merkle root does not match its trades"
        if block.qc is None:
            return "no quorum certificate"
        if block.qc.digest != block.digest(self.domain):
            return "quorum certificate signs a different digest"
        if self.validators:
            problems = block.qc.problems(self.validators, self.threshold)
            if problems:
                return "quorum certificate invalid: " + "; ".join(problems)
        return None

    def append(self, block: LogBlock, *, checked: bool = False) -> None:
        """Add a certified block; raises ConsensusError naming what is wrong (the log is left unchanged).

        checked=True skips re-hashing the trades and re-verifying signatures when the caller already did.
        """
        if checked:
            problem = None
            if block.height != self.height + 1 or block.parent_hash != self.head_hash:
                problem = f"does not extend the log at height {self.height}"
            elif block.qc is None:
                problem = "no quorum certificate"
        else:
            problem = self._problem(block, self.height + 1, self.head_hash)
        if problem is None:
            for trade in block.trades:
                if trade.trade_id in self._index:
                    problem = f"trade {trade.trade_id} is already in block {self._index[trade.trade_id][0]}"
                    break
        if problem:
            raise ConsensusError(f"cannot append block {block.height}: {problem}")
        self.blocks.append(block)
        for i, trade in enumerate(block.trades):
            self._index[trade.trade_id] = (block.height, i)

    def expire(self, height: int) -> None:
        """Block `height` expired unsettled and is skipped on chain: it stays, its trades are free again."""
        block = self.block(height)
        self.expired.add(height)
        for trade in block.trades:
            if self._index.get(trade.trade_id, (None,))[0] == height:
                del self._index[trade.trade_id]

    def verify(self) -> LogVerification:
        """Re-check the whole chain from genesis: heights, parent hashes, Merkle roots, certificates, no repeats."""
        parent, seen = GENESIS_HASH, set()
        for i, block in enumerate(self.blocks):
            problem = self._problem(block, i + 1, parent)
            if problem is None and block.height not in self.expired:
                for trade in block.trades:
                    if trade.trade_id in seen:
                        problem = f"trade {trade.trade_id} appears twice in the log"
                    seen.add(trade.trade_id)
            if problem:
                return LogVerification(False, len(self.blocks), i + 1, problem)
            parent = block.hash
        return LogVerification(True, len(self.blocks))

    @property
    def trades(self) -> list[Trade]:
        return [t for b in self.blocks for t in b.trades]

    def trade_ids(self) -> KeysView[int]:
        """Ids of every logged trade (a live view)."""
        return self._index.keys()

    def block(self, height: int) -> LogBlock:
        if not 1 <= height <= self.height:
            raise ConsensusError(f"no block at height {height} (log height {self.height})")
        return self.blocks[height - 1]

    def proof(self, trade_id: int) -> TradeProof:
        """The Merkle proof of a logged trade."""
        where = self._index.get(trade_id)
        if where is None:
            raise ConsensusError(f"trade {trade_id} is not in the log")
        block = self.blocks[where[0] - 1]
        tree = self.tree(block.trades)
        trade = block.trades[where[1]]
        return TradeProof(trade, block.height, where[1], leaf_hash(self.leaf_encoder(trade)),
                          tuple(tree.proof(where[1])), block.merkle_root)

    def to_json(self) -> dict:
        """A JSON-ready dump of the log (hex hashes, trades as dicts, certificates)."""
        return {
            "domain": asdict(self.domain), "threshold": self.threshold, "validators": list(self.validators),
            "head_hash": "0x" + self.head_hash.hex(),
            "blocks": [{
                "height": b.height, "hash": "0x" + b.hash.hex(), "parent_hash": "0x" + b.parent_hash.hex(),
                "merkle_root": "0x" + b.merkle_root.hex(), "state_block": b.state_block, "expires_at": b.expires_at,
                "trades": [{**{n: getattr(t, n) for n in _TRADE_FIELDS}, "aggressor": str(t.aggressor)}
                           for t in b.trades],
                "qc": None if b.qc is None else {
                    "digest": "0x" + b.qc.digest.hex(),
                    "signatures": [{"signer": a, "signature": "0x" + s.hex()} for a, s in b.qc.signatures]},
            } for b in self.blocks],
        }

    def dumps(self) -> str:
        """to_json() as text: the log's fields, then one block per line (json's C encoder: an indented dump of a long
        run's log took seconds)."""
        data = self.to_json()
        blocks = data.pop("blocks")
        head = json.dumps(data)[:-1]
        rows = [json.dumps(b, separators=(",", ":")) for b in blocks]
        body = "[\n" + ",\n".join(rows) + "\n]" if rows else "[]"
        return f'{head}, "blocks": {body}}}\n'

    def dump(self, path: str | Path) -> None:
        """Write dumps() to a file."""
        Path(path).write_text(self.dumps())
