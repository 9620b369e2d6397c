"""deploy_stack and deployments/<network>.json: write, reuse, --force, no clobbering, failures leave no file."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.blockchain import Chain, deploy_stack
from market_sim.blockchain.compiler import load_artifact
import market_sim.settlement.stack  # noqa: F401  (registers the test-token steps)
from market_sim.blockchain.deploy import (
    DEPLOY_STEPS,
    AccountRef,
    Call,
    ChainId,
    DeployStep,
    Param,
    Ref,
    open_chain,
    read_record,
    register_step,
    resolve_steps,
)
from market_sim.core.errors import ConfigError, DeploymentError

TOKENS = ("BaseToken", "QuoteToken")


def test_default_stack_deploys_tokens(chain):
    result = deploy_stack(chain, only=TOKENS)
    assert list(result.contracts) == list(TOKENS)
    assert not result.skipped and result.record_path is None
    base, quote = result.handles["BaseToken"], result.handles["QuoteToken"]
    assert chain.call(base.functions.decimals()) == 18
    assert chain.call(quote.functions.decimals()) == 6
    assert chain.call(quote.functions.owner()) == chain.account("deployer")
    for record in result.contracts.values():
        artifact = load_artifact(record.contract)
        receipt = chain.w3.eth.get_transaction_receipt(record.tx_hash)
        assert (record.block, record.gas_used) == (receipt["blockNumber"], receipt["gasUsed"])
        assert record.artifact_hash == artifact.artifact_hash
        assert artifact.code_hash(chain.code(record.address)) == artifact.runtime_code_hash
    assert result.total_gas == sum(r.gas_used for r in result.contracts.values())


def test_record_written_then_reused_then_forced(chain, tmp_path):
    first = deploy_stack(chain, only=TOKENS, write=True, directory=tmp_path)
    path = tmp_path / "local.json"
    assert first.record_path == path
    record = json.loads(path.read_text())
    assert record["chainId"] == 1337 and record["network"] == "local" and record["live"] is False
    assert record["deployer"] == chain.account("deployer")
    assert {k: v["address"] for k, v in record["contracts"].items()} == {
        k: c.address for k, c in first.contracts.items()
    }
    assert record["contracts"]["BaseToken"]["gasUsed"] == first.contracts["BaseToken"].gas_used
    block = chain.block_number

    again = deploy_stack(chain, only=TOKENS, write=True, directory=tmp_path)
    assert again.skipped and chain.block_number == block
    assert again.contracts == first.contracts
    assert chain.call(again.handles["QuoteToken"].functions.symbol()) == "tUSD"

    forced = deploy_stack(chain, only=TOKENS, write=True, directory=tmp_path, force=True)
    assert not forced.skipped and forced.reason == "forced"
    assert forced.address("BaseToken") != first.address("BaseToken")
    assert read_record(path)["contracts"]["BaseToken"]["address"] == forced.address("BaseToken")


def test_record_not_reused_when_constructor_args_change(chain, tmp_path):
    steps = [DeployStep("T", "TestToken", ("A", "A", 18), then=(Call("mint", (AccountRef("bob"), 5)),))]
    first = deploy_stack(chain, steps=steps, write=True, directory=tmp_path)
    assert first.contracts["T"].setup == [["A", "A", 18], [["mint", [chain.account("bob"), 5]]]]
    assert deploy_stack(chain, steps=steps, write=True, directory=tmp_path).skipped
    changed = [DeployStep("T", "TestToken", ("A", "A", 6), then=steps[0].then)]
    result = deploy_stack(chain, steps=changed, write=True, directory=tmp_path)
    assert not result.skipped
    assert result.reason == "constructor arguments or setup calls of T changed since it was deployed"
    assert chain.call(result.handles["T"].functions.decimals()) == 6


def test_record_not_reused_when_code_is_gone(tmp_path):
    deploy_stack(Chain.local(), only=TOKENS, write=True, directory=tmp_path)
    fresh = Chain.local()  # same chain id, but nothing deployed on it
    result = deploy_stack(fresh, only=TOKENS, write=True, directory=tmp_path)
    assert not result.skipped and result.reason.startswith("no code at the recorded address")


def test_record_for_other_chain_id_not_reused(tmp_path):
    deploy_stack(Chain.local(chain_id=5), only=TOKENS, write=True, directory=tmp_path)
    result = deploy_stack(Chain.local(chain_id=6), only=TOKENS, write=True, directory=tmp_path)
    assert result.reason == "record is for chain id 5, the node is chain id 6"


def test_in_process_chain_never_clobbers_a_live_record(chain, tmp_path):
    path = tmp_path / "local.json"
    live = {"network": "local", "chainId": 1, "live": True, "contracts": {}}
    path.write_text(json.dumps(live))
    with pytest.raises(DeploymentError, match="records a live network"):
        deploy_stack(chain, write=True, directory=tmp_path)
    assert json.loads(path.read_text()) == live


def test_malformed_record_is_an_error(chain, tmp_path):
    (tmp_path / "local.json").write_text("{half")
    with pytest.raises(DeploymentError, match="malformed"):
        deploy_stack(chain, write=True, directory=tmp_path)
    assert (tmp_path / "local.json").read_text() == "{half"


def test_reverted_step_writes_nothing(chain, tmp_path):
    steps = [
        DeployStep("BaseToken", "TestToken", ("A", "A", 18)),
        DeployStep("Broken", "TestToken", ("B", "B", 18), then=(Call("burn", (1,)),)),
    ]
    with pytest.raises(DeploymentError) as info:
        deploy_stack(chain, steps=steps, write=True, directory=tmp_path)
    message = str(info.value)
    assert "deploying Broken (TestToken) on local reverted" in message
    assert "ERC20InsufficientBalance" in message and "BaseToken were deployed but are not recorded" in message
    assert list(tmp_path.iterdir()) == []


def test_placeholders_calls_and_callables(chain, box_set):
    steps = [
        DeployStep("Token", "TestToken", ("A", "A", 18), then=(Call("mint", (AccountRef("alice"), 42)),)),
        DeployStep("Box", "Box", lambda c, deployed: (len(deployed) + 99,)),
        DeployStep("Other", "TestToken", ("B", "B", 6), then=(Call("mint", (Ref("Token"), ChainId())),)),
    ]
    artifacts = type(box_set)(box_set.source_hash, {**box_set.artifacts, "TestToken": load_artifact("TestToken")})
    result = deploy_stack(chain, steps=steps, artifacts=artifacts)
    token, box, other = (result.handles[n] for n in ("Token", "Box", "Other"))
    assert chain.call(token.functions.balanceOf(chain.account("alice"))) == 42
    assert chain.call(box.functions.cap()) == 100
    assert chain.call(other.functions.balanceOf(token.address)) == 1337


def test_bad_stacks_are_rejected(chain):
    with pytest.raises(ConfigError, match="unique"):
        deploy_stack(chain, steps=[DeployStep("A", "TestToken", ("A", "A", 1))] * 2)
    with pytest.raises(ConfigError, match="no compiled contract 'Nope'"):
        deploy_stack(chain, steps=[DeployStep("A", "Nope")])
    with pytest.raises(ConfigError, match="deploy step A: requires 'B', which is not a deploy step; known: A"):
        deploy_stack(chain, steps=[DeployStep("A", "TestToken", (Ref("B"), "A", 1))])
    with pytest.raises(ConfigError, match="deploy step A: requires 'C'"):
        deploy_stack(chain, steps=[DeployStep("A", "TestToken", ("A", "A", 1), requires=("C",))])


def test_steps_deploy_in_dependency_order_not_list_order(chain):
    steps = [
        DeployStep("Other", "TestToken", ("B", "B", 6), then=(Call("mint", (Ref("Token"), 5)),)),
        DeployStep("Late", "TestToken", ("C", "C", 6), requires=("Other",)),
        DeployStep("Token", "TestToken", ("A", "A", 18)),
    ]
    assert [s.name for s in resolve_steps(steps)] == ["Token", "Other", "Late"]
    assert [s.name for s in resolve_steps(steps, only=["Other"])] == ["Token", "Other"]
    result = deploy_stack(chain, steps=steps)
    assert list(result.contracts) == ["Token", "Other", "Late"]
    assert chain.call(result.handles["Other"].functions.balanceOf(result.address("Token"))) == 5


def test_cycles_are_named(chain):
    steps = [DeployStep("A", "TestToken", requires=("B",)), DeployStep("B", "TestToken", requires=("C",)),
             DeployStep("C", "TestToken", (Ref("A"),)), DeployStep("D", "TestToken")]
    with pytest.raises(ConfigError, match=r"deploy steps form a cycle: A -> B -> C -> A"):
        resolve_steps(steps)
    with pytest.raises(ConfigError, match="unknown deploy step; known: A, B, C, D"):
        resolve_steps(steps, only=["E"])


def test_params_and_call_only_steps_with_targets(chain, tmp_path):
    steps = [
        DeployStep("T", "TestToken", (Param("name"), Param("symbol", "SYM"), Param("decimals", 18))),
        DeployStep("Fund", None, then=(Call("mint", (AccountRef("bob"), Param("amount")), target="T"),)),
    ]
    result = deploy_stack(chain, steps=steps, params={"name": "Named", "amount": 7}, write=True, directory=tmp_path)
    token = result.handles["T"]
    assert list(result.contracts) == ["T"]
    assert chain.call(token.functions.name()) == "Named" and chain.call(token.functions.symbol()) == "SYM"
    assert chain.call(token.functions.balanceOf(chain.account("bob"))) == 7
    assert read_record(tmp_path / "local.json")["calls"] == {"Fund": [[], [["mint", [chain.account("bob"), 7], "T"]]]}
    with pytest.raises(ConfigError, match="deploy parameter: deploy parameter not given"):
        deploy_stack(chain, steps=steps, params={"name": "x"})


def test_registered_steps_form_the_deploy_stack():
    import market_sim.defi.stack  # noqa: F401

    names = [s.name for s in resolve_steps()]
    assert names == ["BaseToken", "QuoteToken", "Settlement", "Factory", "BaseQuotePool", "WETH9", "Router", "Bridge"]
    assert DEPLOY_STEPS.get("Router").dependencies() == ("Factory", "WETH9")
    assert "settlement contract" in DEPLOY_STEPS.entry("Settlement").help


def test_register_step_appends_or_replaces():
    register_step(DeployStep("ZZ", "TestToken"))
    assert DEPLOY_STEPS.get("ZZ").contract == "TestToken"
    register_step(DeployStep("ZZ", "Box"))
    assert DEPLOY_STEPS.get("ZZ").contract == "Box"
    DEPLOY_STEPS._entries.pop("ZZ")
    stack = [DeployStep("A", "TestToken")]
    register_step(DeployStep("B", "TestToken"), stack=stack)
    register_step(DeployStep("A", "Box"), stack=stack)
    assert [(s.name, s.contract) for s in stack] == [("A", "Box"), ("B", "TestToken")]


def test_open_chain_names():
    assert open_chain("local").is_local
    with pytest.raises(ConfigError, match="unknown network"):
        open_chain("mainnet-ish")


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_resolve_steps_orders_any_graph_or_names_its_cycle(data):
    n = data.draw(st.integers(1, 8))
    names = [f"S{i}" for i in range(n)]
    requires = {name: tuple(sorted(data.draw(st.sets(st.sampled_from(names), max_size=3)) - {name}))
                for name in names}
    steps = [DeployStep(name, "TestToken", requires=requires[name]) for name in data.draw(st.permutations(names))]
    try:
        ordered = [s.name for s in resolve_steps(steps)]
    except ConfigError as exc:
        cycle = str(exc).split("form a cycle: ")[1].split(" (got")[0].split(" -> ")
        assert cycle[0] == cycle[-1] and len(cycle) >= 3
        assert all(b in requires[a] for a, b in zip(cycle, cycle[1:]))  # a real cycle of requirements
        return
    assert sorted(ordered) == sorted(names)
    position = {name: i for i, name in enumerate(ordered)}
    assert all(position[d] < position[name] for name in names for d in requires[name])
