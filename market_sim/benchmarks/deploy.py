"""Deploy benchmark: time and gas to deploy the stack, and tx/call throughput, in-process and on anvil (or --rpc)."""

from __future__ import annotations

import sys
import os
import time
from typing import Any

import market_sim.defi.stack  # noqa: F401  (registers the AMM and Bridge steps of the stack)
import market_sim.settlement.stack  # noqa: F401  (registers the test tokens and Settlement)
from market_sim.blockchain import Chain, deploy_stack
from market_sim.blockchain.clients import TestToken
from market_sim.blockchain.anvil import anvil_binary, running_anvil
from market_sim.blockchain.compiler import load_artifacts


def _measure(chain: Chain, transactions: int) -> dict[str, Any]:
    start = time.perf_counter()
    result = deploy_stack(chain, write=False, force=True)
    deploy_s = time.perf_counter() - start
    token = TestToken.at(chain, result.address("BaseToken"))
    me = chain.account("deployer")
    start = time.perf_counter()
    for _ in range(transactions):
        token.mint(me, 1, gas=100_000)
    tx_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(transactions):
        token.balance_of(me)
    call_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(max(transactions // 4, 1)):
        token.mint(me, 1)  # no gas given: estimated over RPC, fixed limit in-process
    auto_gas_s = time.perf_counter() - start
    return {
        "deploy_stack_s": round(deploy_s, 3),
        "gas": {name: c.gas_used for name, c in result.contracts.items()},
        "total_gas": result.total_gas,
        "tx_per_s_explicit_gas": round(transactions / tx_s, 1),
        "tx_per_s_default_gas": round(max(transactions // 4, 1) / auto_gas_s, 1),
        "calls_per_s": round(transactions / call_s, 1),
    }


def run(quick: bool = False, rpc: str | None = None, progress: bool = True) -> dict:
    """Deploy the stack on the in-process chain and on anvil (started here unless rpc is given); report s, gas, tx/s."""
    transactions = 40 if quick else 400
    load_artifacts()  # compile/cache outside the timings
    out: dict[str, Any] = {"benchmark": "deploy", "transactions": transactions}
    start = time.perf_counter()
    local = Chain.local()
    out["local_chain_setup_s"] = round(time.perf_counter() - start, 3)
    if progress:
        print("in-process chain ...", file=sys.stderr, flush=True)
    out["in_process"] = _measure(local, transactions)
    if rpc is not None:
        if progress:
            print(f"JSON-RPC {rpc} ...", file=sys.stderr, flush=True)
        out["rpc"] = {"url": rpc, **_measure(Chain.connect(rpc), transactions)}
    elif anvil_binary().exists():
        if progress:
            print("anvil (started for this run) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        with running_anvil() as url:
            startup = time.perf_counter() - start
            out["anvil"] = {"startup_s": round(startup, 3), **_measure(Chain.connect(url), transactions)}
    else:
        out["anvil"] = f"skipped: no anvil at {anvil_binary()} (run `npm ci`)"
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the rates
    return out
