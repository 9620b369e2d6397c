"""Test environment for settlement unit tests: a deployed Settlement, two listed tokens, funded traders."""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.blockchain import Chain
from market_sim.consensus.signing import ValidatorKey, batch_digest, validator_keys
from market_sim.settlement import SettlementBatch, SettlementClient, SettledTrade, pack_signatures
from market_sim.settlement.certifier import KeyCertifier

FUNDS = 10**24


@dataclass
class Env:
    chain: Chain
    client: SettlementClient
    keys: tuple[ValidatorKey, ...]
    base: str
    quote: str
    alice: str
    bob: str
    carol: str
    fee: str
    next_trade_id: int = 1

    def certify(self, batch: SettlementBatch, signers=None, *, domain=None) -> bytes:
        """Packed signatures of `signers` (default: the first three validators) over the batch digest."""
        signers = self.keys[:3] if signers is None else signers
        digest = batch_digest(domain or self.client.domain, *batch.header.as_tuple())
        return pack_signatures([(k.address, k.sign(digest)) for k in signers])

    def trade(self, buyer: str, seller: str, base_amount: int = 10**18, quote_amount: int = 5 * 10**18,
              buyer_fee: int = 0, seller_fee: int = 0) -> SettledTrade:
        t = SettledTrade(self.next_trade_id, buyer, seller, self.base, self.quote, base_amount, quote_amount,
                         buyer_fee, seller_fee)
        self.next_trade_id += 1
        return t

    def next_batch(self, trades, *, validity: int = 20, **kw) -> SettlementBatch:
        """The next batch on chain, stated at the block below the head and valid for `validity` blocks."""
        c = self.client
        state_block = kw.pop("state_block", max(c.head - 1, 0))
        kw.setdefault("expires_at", state_block + validity)
        return SettlementBatch.build(c.last_sequence + 1, c.last_batch_hash, trades, fee_account=self.fee,
                                     token_index=c.token_index, state_block=state_block, **kw)


class CountingCertifier(KeyCertifier):
    """Three validator keys sign every batch; counts its calls. For batching tests only: the revert, re-certification
    and crash tests use the real committee (test_pipeline.committee_env)."""

    def __init__(self, env: Env, count: int = 3) -> None:
        super().__init__(env.client, env.keys[:count])
        self.calls = 0

    def certify(self, batch, trades) -> bytes:
        self.calls += 1
        return super().certify(batch, trades)


def deploy_env() -> Env:
    """A fresh in-process chain with the Settlement contract, tokens Base and Quote, alice and bob funded."""
    chain = Chain.local(["deployer", "alice", "bob", "carol", "fee"])
    keys = validator_keys(4, seed=7)
    client = SettlementClient.deploy(chain, [k.address for k in keys], 3, chain.account("fee"))
    tokens = [chain.deploy("TestToken", name, name, 18) for name in ("Base", "Quote")]
    for token in tokens:
        client.list_token(token.address)
        for who in ("alice", "bob", "carol"):
            chain.transact(token.functions.mint(chain.account(who), 2 * FUNDS))
            if who != "carol":
                client.deposit(token.address, FUNDS, sender=who)
    return Env(chain, client, keys, tokens[0].address, tokens[1].address, chain.account("alice"),
               chain.account("bob"), chain.account("carol"), chain.account("fee"))
