"""`market-sim bench consensus`: trades finalized per wall-clock second, simulated latency and signature work for
committees of 4, 7 and 10 validators with batches of 1, 100 and 1,000 trades (BFT quorum, Streamlet, and Raft as the
crash-fault-tolerant comparison), plus the synchronous pre-trade vote rate, and batch certification as the settlement
pipeline uses it (certified batches per simulated second and CPU per batch, 4 and 7 validators)."""

from __future__ import annotations

import sys
import time

from market_sim.consensus.certification import NetworkCertifier
from market_sim.consensus.cluster import Cluster, percentiles
from market_sim.consensus.committee import Committee
from market_sim.consensus.config import ConsensusConfig
from market_sim.consensus.signing import OPERATIONS
from market_sim.consensus.workload import make_workload

LATENCY = "lognormal:20ms"


def _trades_for(batch: int, quick: bool) -> int:
    if quick:
        return 40 if batch == 1 else 2 * batch
    return 200 if batch == 1 else max(2_000, 5 * batch)


def _network_case(protocol: str, nodes: int, batch: int, quick: bool) -> dict:
    trades = _trades_for(batch, quick)
    w = make_workload(trades, seed=1, invalid_rate=0.0, spacing=0)  # a backlog: throughput, not arrival rate
    cfg = ConsensusConfig(nodes=nodes, protocol=protocol, latency=LATENCY, seed=1, batch_size=batch,
                          horizon="3600s")
    OPERATIONS.clear()
    wall = time.perf_counter()
    result = Cluster(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False).run(w.submissions)
    wall = time.perf_counter() - wall
    lat = percentiles(result.latencies(), (50, 99))
    done = result.finalized
    return {
        "protocol": protocol, "nodes": nodes, "batch_size": batch, "trades": trades, "finalized": done,
        "batches": result.batches, "wall_seconds": round(wall, 3),
        "trades_per_wall_second": round(done / wall, 1) if wall else None,
        "sim_latency_ms_p50": lat["p50"] / 1e6, "sim_latency_ms_p99": lat["p99"] / 1e6,
        "sim_seconds": round(result.sim_time / 1e9, 3),
        "signatures_per_trade": round(OPERATIONS["sign"] / max(done, 1), 3),
        "signature_checks_per_trade": round(OPERATIONS["verify"] / max(done, 1), 3),
        "messages_per_batch": round(result.messages_per_batch(), 1),
        "logs_verified": all(n.log.verify().ok for n in result.honest[:1]),
    }


def _pretrade_case(nodes: int, quick: bool) -> dict:
    trades = 100 if quick else 1_000
    w = make_workload(trades, seed=2, invalid_rate=0.0)
    committee = Committee.create(ConsensusConfig(nodes=nodes), accounts=w.accounts, balances=w.balances())
    wall = time.perf_counter()
    for s in w.submissions:
        committee.decide(s.claim)
    wall = time.perf_counter() - wall
    return {"nodes": nodes, "trades": trades, "votes_per_trade": nodes,
            "trades_per_wall_second": round(trades / wall, 1)}


def _certification_case(protocol: str, nodes: int, quick: bool) -> dict:
    """Batches certified through the networked protocol (NetworkCertifier, log-follower mode, header hook on):
    trades arrive faster than batches certify (500 per second, at most 20 per batch): the saturated certification
    rate the settlement pipeline can draw on, with the CPU each certified batch costs."""
    trades = 200 if quick else 2_000
    batch = 20
    w = make_workload(trades, seed=3, invalid_rate=0.0, spacing=2_000_000)
    cfg = ConsensusConfig(nodes=nodes, protocol=protocol, latency=LATENCY, seed=3, batch_size=batch, horizon="3600s")
    cert = NetworkCertifier(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False,
                            header=lambda h: (h, h + 64), check=lambda b: None)
    cert.add(w.submissions)
    cpu = time.process_time()
    cert.run(until=w.submissions[-1].at + 60_000_000_000)
    cpu = time.process_time() - cpu
    stats = cert.batches
    span = stats[-1].certified_at - stats[0].certified_at if len(stats) > 1 else 0
    lat = percentiles([s.latency for s in stats], (50, 99))
    return {
        "protocol": protocol, "nodes": nodes, "trades": trades, "batches": len(stats),
        "certified_trades": sum(s.trades for s in stats),
        "batches_per_sim_second": round((len(stats) - 1) / (span / 1e9), 2) if span else None,
        "cpu_ms_per_batch": round(1000 * cpu / max(len(stats), 1), 2),
        "batch_latency_ms_p50": lat["p50"] / 1e6, "batch_latency_ms_p99": lat["p99"] / 1e6,
        "messages_per_batch": round(sum(s.messages for s in stats) / max(len(stats), 1), 1),
        "safe": not cert.summary()["safety_problems"],
    }


def run(quick: bool = False, progress: bool = True) -> dict:
    """Measure; quick=True runs a reduced grid (smoke test)."""
    sizes = (4,) if quick else (4, 7, 10)
    batches = (1, 100) if quick else (1, 100, 1_000)
    protocols = ("bft", "raft") if quick else ("bft", "streamlet", "raft")
    cases = []
    for protocol in protocols:
        for n in sizes:
            for b in batches:
                case = _network_case(protocol, n, b, quick)
                if progress:
                    print(f"  {protocol:9} n={n:2} batch={b:5}: {case['trades_per_wall_second']:>9} trades/s, "
                          f"p50 {case['sim_latency_ms_p50']:.0f} ms, p99 {case['sim_latency_ms_p99']:.0f} ms",
                          file=sys.stderr, flush=True)
                cases.append(case)
    return {
        "benchmark": "consensus", "latency_model": LATENCY, "quick": quick,
        "note": "backlog of trades submitted at t=0 (latency includes queueing); pre-trade votes not included",
        "cases": cases, "pretrade": [_pretrade_case(n, quick) for n in sizes],
        "batch_certification": _certification_cases(quick, progress),
    }


def _certification_cases(quick: bool, progress: bool) -> list[dict]:
    out = []
    for protocol in ("bft",) if quick else ("bft", "majority", "raft"):
        for n in (4, 7):
            case = _certification_case(protocol, n, quick)
            if progress:
                print(f"  certify  {protocol:9} n={n:2}: {case['batches_per_sim_second']} batches/sim s, "
                      f"{case['cpu_ms_per_batch']} ms CPU/batch, p50 {case['batch_latency_ms_p50']:.0f} ms",
                      file=sys.stderr, flush=True)
            out.append(case)
    return out
