"""The consensus, chain-explorer and DeFi routes and the consensus stream channel, against live simulations of the
shipped scenarios (stepped by the tests: no timing): exact answers checked against the simulation's own objects,
the errors (unknown simulation, component absent, bad limit or path), and that a read-only token reads them all."""

from __future__ import annotations

import urllib.parse

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_sim.api.app import create_app
from market_sim.consensus.merkle import hash_pair, verify_proof

from .conftest import ADMIN, READ, SECONDS, TRADER, auth


def error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"} and "Traceback" not in r.text
    return body["error"]


def b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


@pytest.fixture(scope="module")
def module_app(tokens, tmp_path_factory):
    application = create_app(tokens, runs_dir=tmp_path_factory.mktemp("runs"), rate=1e6, burst=1_000_000)
    with TestClient(application) as c:
        yield application, c
    application.state.sims.shutdown()


def start(c, scenario: str, until_s: float) -> str:
    r = c.post("/v1/sims", json={"scenario": scenario, "paused": True}, headers=auth(ADMIN))
    assert r.status_code == 201, r.text
    sim = r.json()["id"]
    r = c.post(f"/v1/sims/{sim}/step", json={"until_ns": int(until_s * SECONDS)}, headers=auth(ADMIN))
    assert r.status_code == 200, r.text
    return sim


@pytest.fixture(scope="module")
def byz(module_app):
    """byzantine-validators (7 validators, v1 and v3 equivocating, Streamlet) at 10 s."""
    app, c = module_app
    return app, c, start(c, "byzantine-validators", 10)


def get(c, sim, path, token=READ, **params):
    return c.get(f"/v1/sims/{sim}/{path}", params=params, headers=auth(token))


# ---- consensus ------------------------------------------------------------------------------------------------------
def test_consensus_summary_is_the_committee(byz):
    app, c, sim = byz
    cluster = app.state.sims.get(sim).sim.state("consensus")
    r = get(c, sim, "consensus")
    assert r.status_code == 200, r.text
    info = r.json()
    log = max((n.log for n in cluster.nodes if n.honest), key=len)
    assert info["section"] == "consensus" and info["protocol"] == "streamlet" and info["quorum"] == 5
    assert info["height"] == log.height > 0 and info["round"] == cluster.protocol.rounds
    assert info["head_hash"] == "0x" + log.head_hash.hex() and info["now_ns"] == 10 * SECONDS
    assert [(v["name"], v["behaviour"]) for v in info["validators"] if not v["honest"]] == \
        [("v1", "equivocate"), ("v3", "equivocate")]
    assert [v["address"] for v in info["validators"]] == [n.address for n in cluster.nodes]
    counts = info["counts"]
    assert counts["batches"] == log.height and counts["trades_logged"] == len(log.trades)
    assert counts["certified"] == len(cluster.certified_at) and counts["submitted"] == len(cluster.submitted)
    assert counts["messages"] == sum(cluster.network.sent.values()) and counts["votes_recorded"] > 0


def test_certificates_chain_and_carry_a_quorum(byz):
    app, c, sim = byz
    height = get(c, sim, "consensus").json()["height"]
    certs = get(c, sim, "consensus/certificates", limit=10_000).json()
    addresses = {v["address"] for v in get(c, sim, "consensus").json()["validators"]}
    assert [x["height"] for x in certs] == list(range(1, height + 1))
    assert certs[0]["parent_hash"] == "0x" + "00" * 32
    for prev, cur in zip(certs, certs[1:]):
        assert cur["parent_hash"] == prev["hash"]
    for cert in certs:
        assert cert["signatures"] == len(cert["signers"]) >= 5 and set(cert["signers"]) <= addresses
        assert cert["certified_at_ns"] <= 10 * SECONDS
    assert get(c, sim, "consensus/certificates", limit=2).json() == certs[-2:]


def test_the_log_and_an_inclusion_proof(byz):
    app, c, sim = byz
    log = get(c, sim, "consensus/log", limit=10_000).json()
    certs = get(c, sim, "consensus/certificates", limit=10_000).json()
    assert log["verified"] is True and log["problem"] is None
    assert log["entries_total"] == sum(x["trades"] for x in certs) == len(log["entries"])
    assert [e["seq"] for e in log["entries"]] == list(range(1, log["entries_total"] + 1))
    roots = {x["height"]: x["merkle_root"] for x in certs}
    assert all(e["merkle_root"] == roots[e["height"]] for e in log["entries"])
    assert get(c, sim, "consensus/log", limit=3).json()["entries"] == log["entries"][-3:]
    last = log["entries"][-1]
    r = get(c, sim, f"consensus/log/{last['seq']}/proof")
    assert r.status_code == 200, r.text
    proof = r.json()
    assert {k: proof[k] for k in last} == last and proof["root"] == roots[last["height"]]
    node = b(proof["leaf"])
    for sibling in proof["proof"]:
        node = hash_pair(node, b(sibling))
    assert node == b(proof["root"]) and proof["verified"] is True
    assert not verify_proof([b(p) for p in proof["proof"]], b(proof["root"]), bytes(32))
    assert len(proof["signers"]) >= 5 and proof["expired"] is False


def test_rounds_say_who_voted_what(byz):
    app, c, sim = byz
    rounds = get(c, sim, "consensus/rounds", limit=10_000).json()
    names = {f"v{i}" for i in range(7)}
    assert rounds and all(v["voter"] in names for r in rounds for v in r["votes"])
    assert {v["kind"] for r in rounds for v in r["votes"]} == {"vote", "certify"}  # epoch votes, final shares
    assert all(r["round"] is None for r in rounds if r["votes"][0]["kind"] == "certify")
    recorder = app.state.sims.get(sim).vote_recorder
    assert sum(len(r["votes"]) for r in rounds) == len(recorder.records) == recorder.total
    votes = [v for r in rounds for v in r["votes"] if v["kind"] == "vote"]
    # an equivocator's vote reaches only part of the committee; an honest vote goes to everyone
    assert {v["voter"] for v in votes if v["to"] is not None} == {"v1", "v3"}
    assert all(len(v["to"]) < 7 for v in votes if v["to"] is not None)
    for r in rounds:  # an honest validator votes for one block per epoch
        digests: dict[str, set] = {}
        for v in r["votes"]:
            digests.setdefault(v["voter"], set()).add(v["digest"])
        assert all(len(ds) == 1 for name, ds in digests.items() if name not in ("v1", "v3"))
    # epochs led by an equivocator: its two conflicting proposals both got votes
    split = [r for r in rounds if r["round"] is not None and len({v["digest"] for v in r["votes"]}) > 1]
    assert split
    assert get(c, sim, "consensus/rounds", limit=1).json() == rounds[-1:]


def test_consensus_errors(byz, client, sim):
    app, c, bsim = byz
    for path in ("consensus", "consensus/rounds", "consensus/certificates", "consensus/log",
                 "consensus/log/1/proof"):
        r = get(client, sim, path)  # random-market: no committee
        assert r.status_code == 404 and "has no validator committee" in error(r)["message"]
        r = get(client, "sim-404", path)
        assert r.status_code == 404 and error(r)["message"] == "no simulation 'sim-404'"
    total = get(c, bsim, "consensus/log").json()["entries_total"]
    r = get(c, bsim, f"consensus/log/{total + 1}/proof")
    assert r.status_code == 404 and error(r)["message"] == f"no log entry {total + 1}: the trade log holds " \
                                                           f"{total} entries"
    for path, params, field in (("consensus/rounds", {"limit": 0}, "query.limit"),
                                ("consensus/certificates", {"limit": 10_001}, "query.limit"),
                                ("consensus/log", {"limit": "x"}, "query.limit"),
                                ("consensus/log/0/proof", {}, "path.seq"),
                                ("consensus/log/abc/proof", {}, "path.seq")):
        r = get(c, bsim, path, **params)
        assert r.status_code == 422 and error(r)["fields"][0]["field"] == field, r.text
    r = c.get(f"/v1/sims/{bsim}/consensus")
    assert r.status_code == 401
    assert get(c, bsim, "consensus", token=TRADER).status_code == 200


def test_the_consensus_channel_streams_votes_and_certificates(byz):
    app, c, sim = byz
    before = get(c, sim, "consensus").json()
    with c.websocket_connect(f"/v1/sims/{sim}/stream", headers=auth(READ)) as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"op": "subscribe", "channel": "consensus"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "consensus", "key": []}
        r = c.post(f"/v1/sims/{sim}/step", json={"by_ns": 2 * SECONDS}, headers=auth(ADMIN))
        assert r.status_code == 200
        after = get(c, sim, "consensus").json()
        votes = after["counts"]["votes_recorded"] - before["counts"]["votes_recorded"]
        assert votes > 0 and after["height"] > before["height"]
        got_votes, heights = 0, []
        while got_votes < votes or (heights[-1] if heights else before["height"]) < after["height"]:
            m = ws.receive_json()
            assert m["type"] == "consensus" and m["sim"] == sim
            if m["kind"] == "vote":
                got_votes += 1
                assert m["protocol"] == "streamlet" and m["voter"].startswith("v")
                assert m["vote_kind"] in ("vote", "certify")
            else:
                assert m["kind"] == "certificate" and m["signatures"] >= 5
                heights.append(m["height"])
        assert got_votes == votes and heights == list(range(before["height"] + 1, after["height"] + 1))
        ws.send_json({"op": "ping"})
        assert ws.receive_json()["type"] == "pong"  # nothing else was queued


def test_the_consensus_channel_needs_a_committee(client, sim):
    with client.websocket_connect(f"/v1/sims/{sim}/stream", headers=auth(READ)) as ws:
        ws.receive_json()
        ws.send_json({"op": "subscribe", "channel": "consensus"})
        m = ws.receive_json()
        assert m["type"] == "error" and m["code"] == "not_found" and "no validator committee" in m["message"]


# ---- chain explorer -------------------------------------------------------------------------------------------------
def test_chain_and_defi_routes_without_those_sections(client, sim):
    for path in ("chain/blocks/1", "chain/transactions", "chain/transactions/0x" + "ab" * 32, "chain/contracts"):
        r = get(client, sim, path)
        assert r.status_code == 404 and "has no chain (no settlement or defi section)" in error(r)["message"]
    for path in ("amm/pools", "bridge/transfers"):
        r = get(client, sim, path)
        assert r.status_code == 404 and "has no defi section" in error(r)["message"]
    for path, field in (("chain/transactions/0x12", "path.tx_hash"), ("chain/blocks/-1", "path.number")):
        r = get(client, sim, path)
        assert r.status_code == 422 and error(r)["fields"][0]["field"] == field


@pytest.fixture(scope="module")
def settled(module_app):
    """settlement-demo (bft certification, blocks every 12 s, batches every 60 s) at 100 s: one batch settled."""
    app, c = module_app
    return app, c, start(c, "settlement-demo", 100)


@pytest.mark.slow
def test_settlement_chain_blocks_transactions_receipts_contracts(settled):
    app, c, sim = settled
    run = app.state.sims.get(sim).sim.state("settlement")
    settle = next(r for r in run.producer.records() if r.label == "settle #1")
    block = get(c, sim, f"chain/blocks/{settle.block_number}").json()
    assert block["chain"] == "settlement" and block["number"] == settle.block_number
    assert settle.tx_hash in block["transactions"]
    assert block["producer"]["number"] == settle.block_number and block["producer"]["sim_time"] > 60 * SECONDS
    txs = get(c, sim, "chain/transactions", limit=5).json()
    assert len(txs) == 5 and [t["block"] for t in txs] == sorted(t["block"] for t in txs)
    mine = next(t for t in txs if t["hash"] == settle.tx_hash)
    assert mine["label"] == "settle #1" and mine["contract"] == "Settlement" and mine["status"] == 1
    assert mine["from"].startswith("0x") and mine["gas_used"] == settle.gas_used
    receipt = get(c, sim, f"chain/transactions/{settle.tx_hash}").json()
    settled_events = [e for e in receipt["events"] if e["event"] == "BatchSettled"]
    cert = get(c, sim, "consensus/certificates").json()[0]
    assert len(settled_events) == 1 and settled_events[0]["contract"] == "Settlement"
    assert settled_events[0]["args"]["sequence"] == 1 and settled_events[0]["args"]["batchHash"] == cert["hash"]
    assert settled_events[0]["args"]["merkleRoot"] == cert["merkle_root"]
    contracts = get(c, sim, "chain/contracts").json()
    by_name = {}
    for x in contracts:
        by_name.setdefault(x["name"], []).append(x)
    assert len(by_name["Settlement"]) == 1 and by_name["Settlement"][0]["address"] == run.stack.venue.client.address
    assert {x["address"] for x in by_name["TestToken"]} == set(run.stack.venue.tokens.values())
    assert all(x["deployment"]["block"] >= 1 and x["deployment"]["tx_hash"].startswith("0x") for x in contracts)
    info = get(c, sim, "consensus").json()
    assert info["section"] == "settlement" and info["protocol"] == "bft" and info["height"] == 1
    rounds = get(c, sim, "consensus/rounds", limit=10_000).json()
    kinds = {v["kind"] for r in rounds for v in r["votes"]}
    assert {"prevote", "precommit", "sign"} <= kinds
    # errors: a block past the head, an unknown transaction, an unknown chain
    head = run.chain.block_number
    r = get(c, sim, f"chain/blocks/{head + 1}")
    assert r.status_code == 404 and error(r)["message"] == f"no block {head + 1} on chain settlement (head is {head})"
    r = get(c, sim, "chain/transactions/0x" + "00" * 32)
    assert r.status_code == 404 and "no transaction 0x" in error(r)["message"]
    r = get(c, sim, "chain/contracts", chain="L2")
    assert r.status_code == 404 and error(r)["message"] == f"simulation {sim} has no chain 'L2'; chains: settlement"
    r = get(c, sim, "chain/transactions", limit=501)
    assert r.status_code == 422 and error(r)["fields"][0]["field"] == "query.limit"


# ---- DeFi -----------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_amm_pools_and_bridge_transfers(module_app):
    app, c = module_app
    sim = start(c, "cross-chain-arbitrage", 30)
    world = app.state.sims.get(sim).sim.state("defi")
    assert c.get(f"/v1/sims/{sim}", headers=auth(READ)).json()["components"] == {
        "consensus": "committee", "chains": ["settlement", *world.runtimes], "amm": True, "bridge": True}
    pools = get(c, sim, "amm/pools").json()
    assert [p["venue"] for p in pools] == list(world.venues)
    for p in pools:
        v = world.venues[p["venue"]]
        assert (p["reserve_base"], p["reserve_quote"], p["fee_bps"]) == (v.pool.base, v.pool.quote, v.fee_bps)
        assert p["chain"] == v.runtime.name and p["address"] == v.info.address
        assert p["price_exact"] == f"{v.pool.quote}/{v.pool.base}"
    transfers = get(c, sim, "bridge/transfers", limit=10_000).json()
    assert len(transfers) == len(world.relayer.transfers) > 0
    assert [t["nonce"] for t in transfers] == [t.relay.nonce for t in world.relayer.transfers]
    assert all(t["received"] + t["fee"] == t["amount"] for t in transfers if not t["pending"])
    assert get(c, sim, "bridge/transfers", limit=1).json() == transfers[-1:]
    contracts = get(c, sim, "chain/contracts").json()
    assert {"settlement", *world.runtimes} == {x["chain"] for x in contracts}
    chain = next(iter(world.runtimes))
    assert {x["chain"] for x in get(c, sim, "chain/contracts", chain=chain).json()} == {chain}
    r = get(c, sim, "bridge/transfers", limit=0)
    assert r.status_code == 422 and error(r)["fields"][0]["field"] == "query.limit"


# ---- agents' PnL ----------------------------------------------------------------------------------------------------
def test_pnl_per_agent_is_the_runs_final_pnl(client, app, sim):
    r = client.post(f"/v1/sims/{sim}/stop", headers=auth(ADMIN))
    assert r.status_code == 200 and r.json()["state"] == "stopped"
    rows = client.get(f"/v1/sims/{sim}/pnl", headers=auth(READ)).json()
    table = app.state.sims.get(sim).outcome.tables["agent_pnl"]
    expected: dict[tuple[str, str], int] = {}
    for agent, cur, pnl in zip(table["agent"], table["currency"], table["pnl"]):
        expected[(agent, cur)] = expected.get((agent, cur), 0) + int(pnl)
    assert {(x["agent"], x["currency"]): x["pnl"] for x in rows} == expected
    assert {x["agent"] for x in rows} == set(table["agent"]) and all(x["group"] for x in rows)
    r = client.get("/v1/sims/nope/pnl", headers=auth(READ))
    assert r.status_code == 404


@pytest.mark.slow
def test_the_synchronous_committee_certificates_and_rounds(module_app):
    """cross-chain-arbitrage settles through the synchronous committee: rounds come from the certificates and the
    consensus channel sends one certificate per certified batch."""
    app, c = module_app
    sim = start(c, "cross-chain-arbitrage", 10)
    info = get(c, sim, "consensus").json()
    assert info["protocol"] == "committee" and info["round"] is None and info["counts"]["votes_recorded"] is None
    h0 = info["height"]
    with c.websocket_connect(f"/v1/sims/{sim}/stream", headers=auth(READ)) as ws:
        ws.receive_json()
        ws.send_json({"op": "subscribe", "channel": "consensus"})
        assert ws.receive_json()["type"] == "subscribed"
        r = c.post(f"/v1/sims/{sim}/step", json={"until_ns": 130 * SECONDS}, headers=auth(ADMIN))
        assert r.status_code == 200
        h1 = get(c, sim, "consensus").json()["height"]
        assert h1 > h0
        got = [ws.receive_json() for _ in range(h1 - h0)]
        ws.send_json({"op": "ping"})
        assert ws.receive_json()["type"] == "pong"
    certs = get(c, sim, "consensus/certificates", limit=10_000).json()
    assert [m["height"] for m in got] == list(range(h0 + 1, h1 + 1))
    assert [{k: m[k] for k in certs[0]} for m in got] == certs[h0:h1]
    rounds = get(c, sim, "consensus/rounds", limit=10_000).json()
    assert [r["height"] for r in rounds] == [x["height"] for x in certs]
    for r, cert in zip(rounds, certs):
        assert {v["address"] for v in r["votes"] if v["approve"]} == set(cert["signers"])
        assert all(v["kind"] == "certificate" for v in r["votes"]) and len(r["votes"]) == len(info["validators"])


# ---- fuzz -----------------------------------------------------------------------------------------------------------

_values = st.one_of(st.integers(min_value=-2**70, max_value=2**70).map(str), st.text(max_size=70),
                    st.sampled_from(["0x" + "ab" * 32, "0x" + "00" * 32, "1", "10000", "-1", "1e3", "0x12", "nan"]))
_paths = st.sampled_from(["consensus/rounds?limit={v}", "consensus/certificates?limit={v}", "consensus/log?limit={v}",
                          "consensus/log/{v}/proof", "chain/blocks/{v}", "chain/transactions/{v}",
                          "chain/transactions?limit={v}", "chain/contracts?chain={v}", "bridge/transfers?limit={v}",
                          "amm/pools"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths, value=_values)
def test_any_component_query_gets_an_answer_not_a_crash(byz, path, value):
    app, c, sim = byz
    r = c.get(f"/v1/sims/{sim}/" + path.format(v=urllib.parse.quote(value, safe="")), headers=auth(READ))
    assert "Traceback" not in r.text
    assert r.status_code in (200, 404, 422), r.text
    if r.status_code != 200:
        body = r.json()
        assert set(body) == {"error"} and body["error"]["message"]
        if r.status_code == 422:
            assert body["error"]["fields"][0]["field"].startswith(("query.", "path."))


def test_the_openapi_schema_documents_the_component_routes_with_examples(client):
    spec = client.get("/openapi.json").json()
    routes = {"/v1/sims/{sim_id}/consensus": ("consensus", "ConsensusInfo"),
              "/v1/sims/{sim_id}/consensus/rounds": ("consensus", "RoundView"),
              "/v1/sims/{sim_id}/consensus/certificates": ("consensus", "CertificateView"),
              "/v1/sims/{sim_id}/consensus/log": ("consensus", "TradeLogView"),
              "/v1/sims/{sim_id}/consensus/log/{seq}/proof": ("consensus", "LogProof"),
              "/v1/sims/{sim_id}/chain/blocks/{number}": ("chain", "ChainBlock"),
              "/v1/sims/{sim_id}/chain/transactions": ("chain", "TxSummary"),
              "/v1/sims/{sim_id}/chain/transactions/{tx_hash}": ("chain", "TxReceiptView"),
              "/v1/sims/{sim_id}/chain/contracts": ("chain", "ContractView"),
              "/v1/sims/{sim_id}/amm/pools": ("defi", "AmmPool"),
              "/v1/sims/{sim_id}/bridge/transfers": ("defi", "BridgeTransferView"),
              "/v1/sims/{sim_id}/pnl": ("market data", "AgentPnl")}
    schemas = spec["components"]["schemas"]
    for path, (tag, model) in routes.items():
        get_op = spec["paths"][path]["get"]
        assert get_op["tags"] == [tag] and {"404", "422"} <= set(get_op["responses"])
        assert schemas[model]["examples"], model
    assert schemas["TxSummary"]["examples"][0]["from"].startswith("0x") and "from" in schemas["TxSummary"]["properties"]


@pytest.mark.slow
def test_the_blocks_of_a_defi_chain(module_app):
    app, c = module_app
    sim = start(c, "cross-chain-arbitrage", 5)
    world = app.state.sims.get(sim).sim.state("defi")
    name = next(iter(world.runtimes))
    head = world.runtimes[name].chain.block_number
    blocks = get(c, sim, "chain/blocks", chain=name, limit=3).json()
    assert [b["number"] for b in blocks] == [head - 2, head - 1, head] and {b["chain"] for b in blocks} == {name}
    one = get(c, sim, f"chain/blocks/{head}", chain=name).json()
    assert one.pop("producer") is None and one == blocks[-1]


def test_the_simulation_says_which_components_it_has(byz, client, sim):
    app, c, bsim = byz
    assert c.get(f"/v1/sims/{bsim}", headers=auth(READ)).json()["components"] == {"consensus": "streamlet", "chains": [], "amm": False,
                                                     "bridge": False}
    assert client.get(f"/v1/sims/{sim}", headers=auth(READ)).json()["components"] == {
        "consensus": None, "chains": [], "amm": False, "bridge": False}
