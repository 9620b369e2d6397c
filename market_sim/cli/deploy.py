"""`market-sim deploy` and `market-sim compile`: deploy the contract stack; refresh the shipped artifacts."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from market_sim.blockchain.deploy import Deployment

# market_sim.blockchain (web3, eth_account) and the contract stacks are imported inside the commands, so that
# `market-sim --help` and the other commands do not pay for them at start-up. The help texts name the networks and
# the key variable of market_sim.blockchain.deploy (NETWORKS, DEFAULT_KEY_ENV); tests/unit/cli/test_startup.py
# checks that these copies match.
NETWORK_NAMES = ("local", "anvil")
DEFAULT_KEY_ENV = "MARKET_SIM_PRIVATE_KEY"

# Wide enough for a full address column when output is captured (CI logs, pipes).
console = Console(width=None if sys.stdout.isatty() else 120)


def deployment_table(result: Deployment) -> Table:
    """A rich table of the deployed contracts: name, contract, address, gas used, block."""
    state = "reused recorded deployment" if result.skipped else "deployed"
    table = Table(title=f"{result.network} (chain id {result.chain_id}) — {state}")
    table.add_column("name")
    table.add_column("contract")
    table.add_column("address", no_wrap=True)
    table.add_column("gas used", justify="right")
    table.add_column("block", justify="right")
    for c in result.contracts.values():
        table.add_row(c.name, c.contract, c.address, f"{c.gas_used:,}", str(c.block))
    table.add_row("total", "", "", f"{result.total_gas:,}", "", style="bold")
    return table


def run_deploy(network: str | None, rpc: str | None, force: bool, key_env: str | None,
               write: bool | None, chain_id: int | None = None) -> Deployment:
    """Open the chain, deploy (or reuse) the stack and print the table; errors propagate as MarketSimError."""
    import market_sim.defi.stack  # noqa: F401  (registers the AMM and Bridge steps)
    import market_sim.settlement.stack  # noqa: F401  (registers the Settlement step)
    from market_sim.blockchain.deploy import deploy_stack, open_chain

    start = time.perf_counter()
    chain = open_chain(network, rpc, key_env=key_env, chain_id=chain_id)
    result = deploy_stack(chain, force=force, write=write)
    console.print(deployment_table(result))
    where = f"record: {result.record_path}" if result.record_path else "no record written"
    why = "" if result.skipped else f" ({result.reason})"
    console.print(Text(f"deployer {result.deployer}; {where}{why}; {time.perf_counter() - start:.2f} s"))
    return result


def register(app: typer.Typer) -> None:
    @app.command("deploy")
    def deploy(
        network: str = typer.Option(
            None, "--network", help=f"Named network: {', '.join(NETWORK_NAMES)} (local = in-process chain). "
            "With --rpc: the name of the deployment record."),
        rpc: str = typer.Option(None, "--rpc", help="JSON-RPC URL of any node (anvil, geth, hardhat)."),
        force: bool = typer.Option(False, "--force", help="Deploy again even if the recorded deployment is on chain."),
        key_env: str = typer.Option(
            None, "--key-env", help=f"Name of the environment variable holding the deployer's private key "
            f"(default: {DEFAULT_KEY_ENV} if set, else the node's unlocked accounts)."),
        write: bool = typer.Option(None, "--write/--no-write",
                                   help="Write deployments/<network>.json (default: only for live networks)."),
        chain_id: int = typer.Option(None, "--chain-id", help="Chain id of the in-process chain (default 1337)."),
    ) -> None:
        """Deploy the contract stack and print contracts, addresses and gas used."""
        run_deploy(network, rpc, force, key_env, write, chain_id)

    @app.command("compile")
    def compile_(
        force: bool = typer.Option(False, "--force", help="Recompile even if the cache is current."),
        check: bool = typer.Option(False, "--check", help="Only check that the shipped artifacts are current."),
    ) -> None:
        """Compile contracts/ and refresh the artifacts shipped in market_sim/blockchain/artifacts."""
        from market_sim.blockchain.compiler import (
            SHIPPED_DIR,
            compile_artifact_set,
            refresh_shipped_artifacts,
            shipped_is_current,
        )
        from market_sim.core.errors import CompilationError

        start = time.perf_counter()
        if check:
            aset = compile_artifact_set(force=force)
            if not shipped_is_current():
                raise CompilationError(f"the artifacts shipped in {SHIPPED_DIR} are stale: run `market-sim compile`")
            changed = False
        else:
            aset, changed = refresh_shipped_artifacts(force=force)
        table = Table(title=f"solc artifacts (source hash {aset.source_hash[:12]}…)")
        for column in ("contract", "source", "bytecode bytes", "runtime bytes"):
            table.add_column(column, justify="right" if "bytes" in column else "left")
        for a in sorted(aset.artifacts.values(), key=lambda a: a.source):
            table.add_row(a.name, a.source, f"{len(a.bytecode) // 2:,}", f"{len(a.deployed_bytecode) // 2:,}")
        console.print(table)
        state = "updated" if changed else "already current"
        console.print(Text(f"shipped artifacts in {SHIPPED_DIR} {state}; {time.perf_counter() - start:.2f} s"))
