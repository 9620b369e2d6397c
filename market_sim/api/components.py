"""The API's views of a simulation's components beyond the books: the validator committee (consensus section, or the
settlement section's certifier), the chains (settlement, DeFi) and the DeFi pools and bridge.

Every function here is called with the simulation's lock held (the world between two steps) and returns JSON-ready
dicts; a component the simulation does not have raises NotFound naming what is missing. Only
market_sim.blockchain talks to a chain (its ChainExplorer); this module never touches web3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from market_sim.api.live import NotFound

__all__ = ["ConsensusSource", "consensus_source", "consensus_info", "consensus_rounds", "certificates",
           "log_entries", "log_proof", "chain_names", "explorer", "amm_pools", "bridge_transfers",
           "certificate_json"]


def _hex(b: bytes | None) -> str | None:
    return None if b is None else "0x" + bytes(b).hex()


# ---- consensus --------------------------------------------------------------------------------------------------
@dataclass
class ConsensusSource:
    """Where a simulation's committee lives: `section` is "consensus" or "settlement"; `cluster` the networked
    protocol's Cluster (None for the settlement's synchronous committee); `committee` the pre-trade voters."""

    section: str
    protocol: str
    nodes: list[Any]
    quorum: int
    cluster: Any = None
    committee: Any = None
    certifier: Any = None  # settlement: the certifier whose `log` is what settles on chain

    @property
    def log(self) -> Any:
        if self.certifier is not None:
            return self.certifier.log
        honest = [n for n in self.nodes if n.honest]
        return max((n.log for n in honest or self.nodes), key=len)

    def certified_at(self, height: int) -> int | None:
        if self.cluster is not None:
            return self.cluster.height_certified_at.get(height)
        return None


def consensus_source(live: Any) -> ConsensusSource:
    sim = live.sim
    cluster = sim.state("consensus")
    if cluster is not None and hasattr(cluster, "nodes"):
        return ConsensusSource("consensus", cluster.config.protocol, list(cluster.nodes), cluster.quorum,
                               cluster=cluster, committee=cluster.committee)
    run = sim.state("settlement")
    stack = getattr(run, "stack", None)
    if stack is not None:
        certifier = stack.committee
        net = getattr(certifier, "net", None)
        if net is not None:  # a networked protocol (ProtocolCertifier over a BatchCertifier)
            c = net.cluster
            return ConsensusSource("settlement", c.config.protocol, list(c.nodes), c.quorum, cluster=c,
                                   committee=c.committee, certifier=certifier)
        return ConsensusSource("settlement", "committee", list(certifier.nodes), certifier.quorum,
                               committee=certifier, certifier=certifier)
    raise NotFound(f"simulation {live.id} has no validator committee (no consensus or settlement section)")


def consensus_info(live: Any, src: ConsensusSource) -> dict[str, Any]:
    log = src.log
    c = src.cluster
    committee = src.committee
    decisions = getattr(committee, "decisions", None)
    recorder = live.vote_recorder
    counts: dict[str, Any] = {
        "batches": len(log), "trades_logged": sum(len(b.trades) for b in log.blocks),
        "pretrade_votes": None if decisions is None else len(decisions),
        "pretrade_rejected": None if decisions is None else sum(1 for d in decisions if not d.approved),
        "equivocations": len(committee.equivocations) if committee is not None else 0,
        "votes_recorded": None if recorder is None else recorder.total,
        "messages": None if c is None else sum(c.network.sent.values()),
    }
    if c is not None:
        counts.update({"submitted": len(c.submitted), "certified": len(c.certified_at),
                       "rejected": len(c.rejections), "pending": len(c.expected - c.certified_at.keys())})
    return {"section": src.section, "protocol": src.protocol, "quorum": src.quorum,
            "height": log.height, "round": None if c is None else c.protocol.rounds,
            "head_hash": _hex(log.head_hash), "now_ns": live.sim.now,
            "validators": [{"index": n.index, "name": n.name, "address": n.address, "behaviour": str(n.behaviour),
                            "honest": n.honest, "log_height": n.log.height} for n in src.nodes],
            "counts": counts}


def certificate_json(src: ConsensusSource, block: Any) -> dict[str, Any]:
    signers = list(block.qc.signers) if block.qc is not None else []
    return {"height": block.height, "hash": _hex(block.hash), "parent_hash": _hex(block.parent_hash),
            "merkle_root": _hex(block.merkle_root), "trades": len(block.trades),
            "digest": _hex(block.qc.digest) if block.qc is not None else None, "signers": signers,
            "signatures": len(signers), "quorum": src.quorum, "state_block": block.state_block,
            "expires_at": block.expires_at, "certified_at_ns": src.certified_at(block.height)}


def certificates(src: ConsensusSource, limit: int) -> list[dict[str, Any]]:
    return [certificate_json(src, b) for b in src.log.blocks[-limit:]]


def consensus_rounds(live: Any, src: ConsensusSource, limit: int) -> list[dict[str, Any]]:
    """The last `limit` (height, round) groups of votes, oldest first. A networked protocol's votes as its
    validators sent them (market_sim.consensus.votes); the synchronous committee's from each certificate: the
    signers approved, every other validator did not sign."""
    if src.cluster is None or live.vote_recorder is None:
        by_address = {n.address: n for n in src.nodes}
        out = []
        for b in src.log.blocks[-limit:]:
            signed = set(b.qc.signers) if b.qc is not None else set()
            votes = [{"voter": n.name, "address": a, "kind": "certificate", "digest": _hex(b.qc.digest) if b.qc
                      else None, "approve": a in signed, "reason": None if a in signed else "no signature",
                      "ts": None, "to": None} for a, n in by_address.items()]
            out.append({"height": b.height, "round": None, "votes": votes})
        return out
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in live.vote_recorder.records:
        groups.setdefault((r.height, r.round), []).append({
            "voter": r.voter, "address": r.address, "kind": r.kind, "digest": r.digest, "approve": r.approve,
            "reason": r.reason, "ts": r.ts, "to": None if r.to is None else list(r.to)})
    keys = list(groups)[-limit:]
    return [{"height": h, "round": rnd, "votes": groups[(h, rnd)]} for h, rnd in keys]


def _entry(seq: int, block: Any, index: int, trade: Any) -> dict[str, Any]:
    return {"seq": seq, "height": block.height, "index": index, "trade_id": trade.trade_id, "ts": trade.ts,
            "symbol": trade.symbol, "price": trade.price, "quantity": trade.quantity, "buyer": trade.buyer,
            "seller": trade.seller, "aggressor": str(trade.aggressor), "block_hash": _hex(block.hash),
            "parent_hash": _hex(block.parent_hash), "merkle_root": _hex(block.merkle_root)}


def log_entries(src: ConsensusSource, limit: int) -> dict[str, Any]:
    """The last `limit` trades of the hash-chained log, oldest first; `seq` numbers every trade of the log from 1."""
    log = src.log
    total = sum(len(b.trades) for b in log.blocks)
    entries: list[dict[str, Any]] = []
    seq = total
    for block in reversed(log.blocks):
        for i in range(len(block.trades) - 1, -1, -1):
            if len(entries) >= limit:
                break
            entries.append(_entry(seq, block, i, block.trades[i]))
            seq -= 1
        if len(entries) >= limit:
            break
    entries.reverse()
    check = log.verify()
    return {"height": log.height, "entries_total": total, "head_hash": _hex(log.head_hash),
            "verified": check.ok, "problem": None if check.ok else f"height {check.height}: {check.reason}",
            "entries": entries}


def log_proof(src: ConsensusSource, seq: int) -> dict[str, Any]:
    """The Merkle inclusion proof of log entry `seq` (OpenZeppelin MerkleProof layout) and its block's place in
    the hash chain."""
    from market_sim.consensus.merkle import leaf_hash, verify_proof

    log = src.log
    left = seq
    for block in log.blocks:
        if left <= len(block.trades):
            index = left - 1
            trade = block.trades[index]
            leaf = leaf_hash(log.leaf_encoder(trade))
            proof = tuple(log.tree(block.trades).proof(index))
            return {**_entry(seq, block, index, trade), "leaf": _hex(leaf), "proof": [_hex(p) for p in proof],
                    "root": _hex(block.merkle_root), "verified": verify_proof(proof, block.merkle_root, leaf),
                    "signers": list(block.qc.signers) if block.qc is not None else [],
                    "expired": block.height in log.expired}
        left -= len(block.trades)
    total = seq - left
    raise NotFound(f"no log entry {seq}: the trade log holds {total} entries")


# ---- chains -----------------------------------------------------------------------------------------------------
def _chains(live: Any) -> dict[str, tuple[Any, Any]]:
    """name -> (Chain, settlement producer or None) of every chain the simulation runs."""
    sim = live.sim
    out: dict[str, tuple[Any, Any]] = {}
    run = sim.state("settlement")
    if run is not None and getattr(run, "chain", None) is not None:
        out["settlement"] = (run.chain, getattr(run, "producer", None))
    world = sim.state("defi")
    for name, rt in (getattr(world, "runtimes", None) or {}).items():
        out[name] = (rt.chain, None)
    return out


def chain_names(live: Any) -> list[str]:
    return list(_chains(live))


def explorer(live: Any, chain: str | None) -> Any:
    """The ChainExplorer of `chain` (default: the simulation's first chain), cached on the LiveSim."""
    from market_sim.blockchain.explorer import ChainExplorer

    chains = _chains(live)
    if not chains:
        raise NotFound(f"simulation {live.id} has no chain (no settlement or defi section)")
    if chain is None:
        chain = next(iter(chains))
    if chain not in chains:
        raise NotFound(f"simulation {live.id} has no chain {chain!r}; chains: {', '.join(chains)}")
    ex = live.explorers.get(chain)
    c, producer = chains[chain]
    if ex is None:
        ex = live.explorers[chain] = ChainExplorer(c, name=chain)
    if producer is not None:
        labels = {r.tx_hash: r.label for r in producer.records() if r.tx_hash}
        ex.labels = labels.get
    return ex


def producer_block(live: Any, chain: str | None, number: int) -> dict[str, Any] | None:
    """The settlement block producer's record of block `number` (simulated time, modelled base fee), if any."""
    chains = _chains(live)
    name = chain if chain is not None else next(iter(chains), None)
    producer = chains.get(name, (None, None))[1] if name is not None else None
    if producer is None:
        return None
    from market_sim.api.live import block_json

    for b in reversed(producer.blocks):
        if b.number == number:
            return block_json(b)
    return None


# ---- DeFi -------------------------------------------------------------------------------------------------------
def _world(live: Any) -> Any:
    world = live.sim.state("defi")
    if world is None:
        raise NotFound(f"simulation {live.id} has no defi section (no AMM pools or bridge)")
    return world


def amm_pools(live: Any) -> list[dict[str, Any]]:
    world = _world(live)
    out = []
    for name, v in world.venues.items():
        pool = v.pool
        inst = v.instrument
        out.append({"venue": name, "chain": v.runtime.name, "symbol": inst.symbol, "address": v.info.address,
                    "token0": v.info.token0, "token1": v.info.token1, "base_asset": inst.base_asset,
                    "quote_asset": inst.quote_asset, "reserve_base": pool.base, "reserve_quote": pool.quote,
                    "fee_bps": v.fee_bps, "price": v.price_float(),
                    "price_exact": f"{pool.quote}/{pool.base}" if pool.base else None})
    return out


def bridge_transfers(live: Any, limit: int) -> list[dict[str, Any]]:
    world = _world(live)
    relayer = getattr(world, "relayer", None)
    if relayer is None:
        raise NotFound(f"simulation {live.id} has no bridge")
    out = []
    for t in relayer.transfers[-limit:]:
        r = t.relay
        out.append({"nonce": r.nonce, "kind": int(r.kind), "source_chain_id": r.source_chain_id,
                    "dest_chain_id": t.dest_chain_id, "token": r.token, "recipient": r.recipient,
                    "amount": r.amount, "sender": t.sender, "sent_at": t.sent_at, "arrived_at": t.arrived_at,
                    "received": t.received, "fee": t.fee, "pending": t.pending, "source_block": r.source_block})
    return out


# ---- agents' PnL ------------------------------------------------------------------------------------------------
def agent_pnl(live: Any) -> list[dict[str, Any]]:
    """Each agent's PnL now, per quote currency: realized plus open positions marked at the venue's last price (the
    recorder's mark, as in the pnl_series table), in integer quote units and in currency units."""
    sim = live.sim
    recorder = sim.recorder
    marks: dict[tuple[str, str], Any] = {}
    out = []
    for agent in sim.agents:
        by_cur: dict[str, list[int]] = {}
        for symbol in agent.symbols:
            key = (agent.venue_for(symbol), symbol)
            mark = marks.get(key)
            if mark is None:
                mark = marks[key] = recorder.mark(*key)
            cur = sim.instruments[symbol].quote_asset
            pos = agent.account.positions.get(symbol)
            acc = by_cur.setdefault(cur, [0, 0, 0])
            acc[0] += agent.mark_pnl(symbol, mark)
            acc[1] += pos.fills if pos is not None else 0
            acc[2] += pos.fees if pos is not None else 0
        for cur, (pnl, fills, fees) in sorted(by_cur.items()):
            decimals = next(i.quote_decimals for i in sim.instruments.values() if i.quote_asset == cur)
            out.append({"agent": agent.id, "group": sim.agent_groups.get(agent.id, agent.kind), "kind": agent.kind,
                        "currency": cur, "pnl": pnl, "pnl_value": pnl / 10 ** decimals, "fills": fills,
                        "fees": fees})
    return out
