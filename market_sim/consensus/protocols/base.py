"""What every network protocol shares: the interface, block catch-up, and adversarial batch forging."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.consensus.log import LogBlock
from market_sim.consensus.node import ConsensusNode
from market_sim.consensus.state import Pending, TradeClaim

if TYPE_CHECKING:
    from market_sim.consensus.cluster import Cluster

__all__ = ["Protocol", "SyncRequest", "SyncReply", "forge_invalid", "select_claims", "split_committee",
           "some_peers"]


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """'Send me your certified blocks above `height`' (a node that missed commits catches up)."""

    height: int


@dataclass(frozen=True, slots=True)
class SyncReply:
    blocks: tuple[LogBlock, ...]


class Protocol:
    """A consensus protocol run by every node of a Cluster; subclasses implement the message handlers."""

    name: ClassVar[str] = ""
    # Byzantine fault bound the protocol is safe under: "third" (f < n/3, quorum certificates), "half" (f < n/2),
    # or "crash" (crash faults only, f < n/2). ConsensusConfig checks a committee against it.
    tolerates: ClassVar[str] = "third"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rounds = 0  # epochs (Streamlet) or views/rounds used

    def start(self) -> None:
        """Called once before the kernel runs."""

    def on_trade(self, node: ConsensusNode, claim: TradeClaim) -> None:
        """A trade entered `node`'s pool."""

    def on_message(self, node: ConsensusNode, src: str, msg: object) -> None:
        """Handle a message delivered to `node`."""
        if isinstance(msg, SyncRequest):
            if node.log.height > msg.height:
                self.cluster.send(node, src, SyncReply(tuple(node.log.blocks[msg.height:])))
        elif isinstance(msg, SyncReply):
            self.catch_up(node, msg.blocks)

    def catch_up(self, node: ConsensusNode, blocks: Sequence[LogBlock]) -> None:
        """Append certified blocks another node sent (each fully verified, certificate included)."""
        for block in blocks:
            if block.height == node.log.height + 1:
                try:
                    node.finalize(block)  # checks parent, root and certificate
                except ConsensusError:  # a bad block from a Byzantine peer is ignored
                    return
                self.cluster.on_certified(node, block)
                self.after_commit(node)

    def after_commit(self, node: ConsensusNode) -> None:
        """Hook: `node` appended a block."""


_FORGERIES = ("zero_quantity", "self_trade", "outside_limit", "replay", "unknown_account")


def forge_invalid(claim: TradeClaim, rng: random.Random, replay: Trade | None, fresh_id: int) -> TradeClaim:
    """An invalid variant of a valid claim, as a Byzantine proposer would slip into a batch."""
    kind = rng.choice(_FORGERIES)
    t = claim.trade
    if kind == "replay" and replay is not None:
        return dataclasses.replace(claim, trade=replay)  # orders no longer match: still invalid
    if kind == "zero_quantity":
        t = dataclasses.replace(t, trade_id=fresh_id, quantity=0)
    elif kind == "self_trade":
        t = dataclasses.replace(t, trade_id=fresh_id, seller=t.buyer)
    elif kind == "outside_limit" and claim.buy.price is not None:
        t = dataclasses.replace(t, trade_id=fresh_id, price=claim.buy.price + 1)
    else:
        t = dataclasses.replace(t, trade_id=fresh_id, buyer="mallory")
    return dataclasses.replace(claim, trade=t)


def select_claims(node: ConsensusNode, pool: dict[int, TradeClaim], pending: Pending, limit: int,
                  reject: Callable[[ConsensusNode, TradeClaim, str], None]) -> list[TradeClaim]:
    """Up to `limit` valid pool claims not already final or pending; invalid ones are dropped via reject()."""
    local = pending.copy()
    out: list[TradeClaim] = []
    for tid, claim in list(pool.items()):
        if tid in local.trade_ids:
            continue
        if tid in node.state.final_ids:
            del pool[tid]
            continue
        reason = node.state.check(claim, local, known_orders_only=True)
        if reason is not None:
            del pool[tid]
            reject(node, claim, reason)
            continue
        out.append(claim)
        local.add(claim.trade, node.state.balances)
        if len(out) >= limit:
            break
    return out


def split_committee(cluster: Cluster, node: ConsensusNode, rng: random.Random) -> tuple[list[str], list[str]]:
    """Two random halves of the other nodes (the sender joins the first): where an equivocator sends each version."""
    others = [n.name for n in cluster.nodes if n is not node]
    rng.shuffle(others)
    half = len(others) // 2
    return others[:half] + [node.name], others[half:]


def some_peers(cluster: Cluster, rng: random.Random) -> list[str]:
    """A random majority-sized subset of the committee: where an equivocating voter's vote goes."""
    names = [n.name for n in cluster.nodes]
    return rng.sample(names, len(names) // 2 + 1)
