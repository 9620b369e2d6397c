"""deploy_venue deploys through the step graph: Settlement, then each token listed, minted and deposited."""

from __future__ import annotations

from market_sim.blockchain import Chain
from market_sim.blockchain.clients import ERC20
from market_sim.settlement.setup import deploy_venue, trader_address


def test_deploy_venue_lists_and_funds_every_token():
    chain = Chain.local(3)
    validators = [chain.account("alice"), chain.account("bob")]
    venue = deploy_venue(chain, assets={"AAA": 18, "BBB": 6}, traders=["t1", "t2", "t3"], validators=validators,
                         threshold=2, deposit={"AAA": 50, "BBB": 7}, overrides={"t2": {"AAA": 0, "BBB": 9}})
    client = venue.client
    assert [client.token_index(venue.tokens[a]) for a in ("AAA", "BBB")] == [1, 2]
    assert venue.deposits == {("t1", "AAA"): 50, ("t3", "AAA"): 50, ("t1", "BBB"): 7, ("t2", "BBB"): 9,
                              ("t3", "BBB"): 7}
    for (trader, asset), amount in venue.deposits.items():
        assert client.balance(trader_address(trader), venue.tokens[asset]) == amount
    assert client.balance(trader_address("t2"), venue.tokens["AAA"]) == 0
    assert ERC20.at(chain, venue.tokens["BBB"]).balance_of(client.address) == 23
    assert ERC20.at(chain, venue.tokens["AAA"]).decimals() == 18
    assert (client.threshold, client.validator_count, client.fee_account) == (2, 2, venue.fee_account)
    # Settlement first, then per token deploy, listToken, mint, approve and one depositForMany for its funded
    # traders (so the same addresses and gas in every run).
    assert chain.block_number == 1 + 2 * 5
