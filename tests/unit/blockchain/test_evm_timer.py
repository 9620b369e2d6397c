"""EvmTimer counts exactly the transactions sent to its address, mined by eth-tester or built by the BlockProducer."""

from __future__ import annotations

from market_sim.blockchain import Chain
from market_sim.blockchain.evm_timer import EvmTimer
from market_sim.blockchain.producer import BlockProducer
from market_sim.simulation.kernel import Kernel


def test_counts_the_transactions_to_its_address_on_both_paths():
    chain = Chain.local(["deployer", "alice", "bob"])
    token = chain.deploy("TestToken", "Test", "TST", 6)
    other = chain.deploy("TestToken", "Other", "OTH", 6)
    with EvmTimer(chain, to=token.address) as timer:
        chain.transact(token.functions.mint(chain.account("alice"), 10))      # eth-tester mines it: counted
        chain.transact(other.functions.mint(chain.account("alice"), 10))      # another address: not counted
        kernel = Kernel()
        producer = BlockProducer(chain, kernel, block_time=1_000_000_000)
        producer.start()
        for _ in range(2):                                                    # built by the producer: counted
            producer.submit(chain.prepare(token.functions.mint(chain.account("bob"), 1)))
        kernel.run(until=2_000_000_000)
        producer.stop()
    assert timer.transactions == 3 and timer.seconds > 0
    chain.transact(token.functions.mint(chain.account("alice"), 10))          # after exit: not counted
    assert timer.transactions == 3
    assert chain.call(token.functions.balanceOf(chain.account("bob"))) == 2
