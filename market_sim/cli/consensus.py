"""`market-sim consensus`: run a validator committee with Byzantine members on the simulated network."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# The consensus and simulation packages (which import eth_account) are imported inside the command, so that
# `market-sim --help` and the other commands do not pay for them at start-up.


def register(app: typer.Typer) -> None:
    @app.command("consensus")
    def consensus(
        nodes: int = typer.Option(7, "--nodes", "-n", help="Validators."),
        byzantine: int = typer.Option(2, "--byzantine", "-f", help="Byzantine validators (chosen by the seed)."),
        behaviour: str = typer.Option("equivocate", "--behaviour", help="crashed, reject, approve-all, equivocate, "
                                      "delayed, malicious-leader."),
        protocol: str = typer.Option("streamlet", "--protocol", help="streamlet, bft, majority or raft "
                                     "(crash faults only)."),
        latency: str = typer.Option("lognormal:20ms", "--latency", help="fixed:D, uniform:LO-HI, lognormal:MEDIAN."),
        seed: int = typer.Option(1, "--seed"),
        trades: int = typer.Option(200, "--trades", help="Trades the exchange submits."),
        batch_size: int = typer.Option(50, "--batch-size", help="Most trades per batch."),
        invalid_rate: float = typer.Option(0.1, "--invalid-rate", help="Share of invalid submitted trades."),
        loss: float = typer.Option(0.0, "--loss", help="Message loss probability before GST."),
        partition: str = typer.Option(None, "--partition", help="Split the committee in halves until this time "
                                      "(e.g. 2s); it then heals."),
        gst: str = typer.Option("0", "--gst", help="Global stabilisation time (e.g. 1s)."),
        spacing: str = typer.Option("5ms", "--spacing", help="Time between submitted trades."),
        show: int = typer.Option(15, "--show", help="Rows per table."),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON only."),
    ) -> None:
        """Order and certify trades with a validator committee; print batches, rejections, latency, log checks."""
        from market_sim.consensus.config import ConsensusConfig
        from market_sim.consensus.network import Partition
        from market_sim.consensus.workload import simulate
        from market_sim.simulation.latency import parse_duration

        partitions = ()
        if partition:
            names = [f"v{i}" for i in range(nodes)]
            partitions = (Partition((frozenset(names[: nodes // 2]), frozenset(names[nodes // 2:])), 0,
                                    parse_duration(partition, "partition")),)
        config = ConsensusConfig(nodes=nodes, byzantine=byzantine, behaviour=behaviour, protocol=protocol,
                                 latency=latency, seed=seed, batch_size=batch_size, loss=loss, gst=gst,
                                 partitions=partitions)
        workload, result = simulate(config, trades, invalid_rate=invalid_rate,
                                    spacing=parse_duration(spacing, "spacing"))
        summary = result.summary()
        if json_out:
            typer.echo(json.dumps(summary, indent=2))
            return
        _print(Console(), config, workload, result, summary, show)


def _print(console: Console, config, workload, result, summary: dict, show: int) -> None:  # noqa: ANN001
    byzantine = ", ".join(f"{k} ({v})" for k, v in summary["behaviours"].items()) or "none"
    console.print(f"[bold]{escape(config.protocol)}[/] committee: n={config.nodes}, quorum {config.quorum}, "
                  f"Byzantine: {escape(byzantine)}")
    log = result.reference_log
    batches = Table(title=f"Finalized batches ({len(log)}; first {min(show, len(log))})")
    for col in ("height", "trades", "merkle root", "signers", "certified at (ms)"):
        batches.add_column(col, justify="right" if col != "merkle root" else "left")
    for block in log.blocks[:show]:
        at = max(result.certified_at.get(t.trade_id, 0) for t in block.trades) / 1e6
        batches.add_row(str(block.height), str(len(block.trades)), "0x" + block.merkle_root.hex()[:16] + "…",
                        f"{len(block.qc.signatures)}/{config.nodes}", f"{at:.1f}")
    console.print(batches)

    refused = result.rejected()
    rejected = Table(title=f"Rejected trades ({len(refused)}; first {min(show, len(refused))})")
    rejected.add_column("trade", justify="right")
    rejected.add_column("reason")
    for tid, reason in refused[:show]:
        rejected.add_row(str(tid), Text(reason))  # a reason is text, never rich markup
    console.print(rejected)

    lat = Table(title="Latency (simulated ms)")
    for col in ("stage", "p50", "p90", "p99", "max"):
        lat.add_column(col, justify="right" if col != "stage" else "left")
    for label, key in (("pre-trade vote", "pretrade_latency_ms"), ("submit → certified", "latency_ms")):
        v = summary[key]
        lat.add_row(label, *(f"{v[k]:.1f}" for k in ("p50", "p90", "p99", "max")))
    console.print(lat)

    unit = {"streamlet": "epochs", "raft": "terms"}.get(config.protocol, "rounds")
    rounds = f"{summary['rounds']} {unit}"
    msgs = Table(title=f"Messages ({summary['messages_per_batch']} per batch, {rounds})")
    msgs.add_column("type")
    msgs.add_column("count", justify="right")
    for kind, count in summary["messages_by_type"].items():
        msgs.add_row(kind, str(count))
    console.print(msgs)

    verify = Table(title="Log verification (every honest node, from genesis)")
    for col in ("node", "blocks", "trades", "verified", "head hash"):
        verify.add_column(col)
    for node in result.honest:
        check = node.log.verify()
        verify.add_row(node.name, str(len(node.log)), str(len(node.log.trades)),
                       "[green]ok[/]" if check.ok else f"[red]height {check.height}: {escape(str(check.reason))}[/]",
                       "0x" + node.log.head_hash.hex()[:16] + "…")
    console.print(verify)
    agree = "[green]all honest logs agree[/]" if summary["honest_logs_agree"] else "[red]honest logs differ[/]"
    if summary["gst_ms"]:
        console.print(f"network stable from {summary['gst_ms']:.0f} ms (GST / partition healed): "
                      f"{summary['rounds_after_gst']} more {rounds.split(' ', 1)[1]} and "
                      f"{summary['last_commit_after_gst_ms']:.0f} ms until the last trade was final")
    console.print(f"{summary['finalized']} of {len(workload.submissions)} submitted trades finalized in "
                  f"{summary['batches']} batches; {summary['rejected']} rejected; {agree}; "
                  f"simulated {summary['sim_seconds']:.2f} s in {summary['wall_seconds']:.2f} s wall")
