# Source of tutorials/01_order_book.ipynb (python scripts/build_tutorials.py rebuilds it).

# %% [markdown]
# # 1. The order book and matching
#
# **Goal:** build a limit order book order by order with the project's real matching engine
# (`market_sim.market.MatchingEngine`), see *price-time priority* at work, and measure what a **market order** does to
# the book: how far it walks, the average price it pays, and the spread it leaves behind.
#
# Prices in the engine are integer **ticks** and quantities integer **lots** (no floating point on the matching path);
# the instrument converts to decimals (`tick_size = 0.01`: 10,000 ticks is 100.00).

# %%
import matplotlib.pyplot as plt

from market_sim.core.events import OrderCancelled, Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import CancelOrder, NewOrder, OrderType, Side, TimeInForce
from market_sim.learn import check_answer
from market_sim.market import MatchingEngine

SYM = "XYZ"
ins = Instrument(SYM, tick_size="0.01")
engine = MatchingEngine([ins])
BUY, SELL = Side.BUY, Side.SELL


def limit(oid, trader, side, qty, price, **kw):
    return NewOrder(oid, trader, SYM, side, qty, OrderType.LIMIT, price, **kw)


def trades(events):
    """(price, quantity, resting order id) of every trade among a command's events."""
    return [(e.price, e.quantity, e.sell_order_id if e.aggressor is BUY else e.buy_order_id)
            for e in events if isinstance(e, Trade)]

# %% [markdown]
# ## A book, level by level
#
# Makers post **limit orders**: a buy at most at a price (a *bid*), a sell at least at a price (an *ask*). Orders that
# do not cross the other side **rest** in the book. Bids are sorted highest first, asks lowest first; within one price
# level, the earlier order comes first (*time priority*).

# %%
makers = [
    limit(1, "mm-a", SELL, 10, 10_001), limit(2, "mm-b", SELL, 20, 10_001), limit(3, "mm-a", SELL, 30, 10_003),
    limit(4, "mm-c", SELL, 50, 10_005), limit(5, "mm-a", BUY, 10, 9_999), limit(6, "mm-b", BUY, 25, 9_998),
    limit(7, "mm-c", BUY, 40, 9_996),
]
for ts, order in enumerate(makers):
    engine.process(order, ts)

book = engine.book(SYM)
print("best bid", book.best_bid(), " best ask", book.best_ask())
bids, asks = book.depth(10)
print("bids", bids)
print("asks", asks)


# %%
def plot_book(book, title, ax):
    bids, asks = book.depth(10)
    ax.bar([float(ins.ticks_to_price(p)) for p, _ in bids], [q for _, q in bids], width=0.008, color="tab:green",
           label="bids")
    ax.bar([float(ins.ticks_to_price(p)) for p, _ in asks], [q for _, q in asks], width=0.008, color="tab:red",
           label="asks")
    ax.set_xlabel("price")
    ax.set_ylabel("resting quantity (lots)")
    ax.set_title(title)
    ax.legend()


fig, ax = plt.subplots(figsize=(7, 3))
plot_book(book, "The book before the market order", ax)
plt.show()

# %% [markdown]
# ## Price-time priority
#
# Orders 1 and 2 both sell at 100.01; order 1 came first, so a buyer at 100.01 trades with it first. Trades happen at
# the **resting** order's price, not the aggressor's.

# %%
events = engine.process(limit(8, "taker", BUY, 15, 10_002), 100)
print(trades(events))
print("best ask now", book.best_ask())

# %% [markdown]
# ### Exercise 1
# The buy for 15 lots at 100.02 took all 10 lots of order 1 and 5 of order 2. How many lots are left resting at 100.01
# now, and which order (id) is first in line there? Replace the `...`.

# %%
left_at_10001 = 15    # your answer (lots)
first_in_line = 2     # your answer (order id)

# %%
check_answer("lots left at 100.01", left_at_10001, book.best_ask()[1])
check_answer("first in line at 100.01", first_in_line, book.l3()[1][0].order_id)

# %% [markdown]
# ## What a market order does
#
# A **market order** has no price: it takes whatever rests on the other side, best level first, until it is filled
# or the book runs dry (the rest is cancelled, reason `no_liquidity`). Its cost above the mid price before it arrived
# is its **price impact** (or slippage).

# %%
mid_before = (book.best_bid()[0] + book.best_ask()[0]) / 2
spread_before = book.best_ask()[0] - book.best_bid()[0]
events = engine.process(NewOrder(9, "taker", SYM, BUY, 60, OrderType.MARKET), 200)
fills = trades(events)
print("fills (price ticks, lots, resting id):", fills)
spread_after = book.best_ask()[0] - book.best_bid()[0]
print("spread before", spread_before, "ticks, after", spread_after, "ticks")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3))
ax1.step(range(1, sum(q for _, q, _ in fills) + 1),
         [p for p, q, _ in fills for _ in range(q)], where="post")
ax1.set_xlabel("lot filled")
ax1.set_ylabel("price paid (ticks)")
ax1.set_title("A 60-lot market buy walks the asks")
plot_book(book, "The book after it", ax2)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 2
# Compute the market order's volume-weighted average price in ticks, and its impact against `mid_before` in ticks
# (average price minus the mid).

# %%
vwap = sum(p * q for p, q, _ in fills) / sum(q for _, q, _ in fills)   # your answer
impact = vwap - mid_before                                             # your answer

# %%
check_answer("market order VWAP (ticks)", vwap, 10_003.0, hint="15 lots at 10,001, 30 at 10,003, 15 at 10,005")
check_answer("impact (ticks)", impact, 3.0, hint="the mid before was (9,999 + 10,001) / 2")

# %% [markdown]
# ## Other order types
#
# * **IOC** (immediate or cancel): fills what it can now, cancels the rest -- it never rests.
# * **FOK** (fill or kill): all or nothing; if it cannot fill completely it is rejected and the book is untouched.
# * **Stop** orders wait until the last trade price reaches the stop, then become market (or limit) orders.
# * A **cancel** removes what is left of a resting order.
#
# ### Exercise 3
# A sell IOC for 100 lots at 99.97 arrives. Predict how many lots trade and how many are cancelled, then run it.

# %%
predicted_traded = 35       # your answer (lots)
predicted_cancelled = 65    # your answer (lots)

# %%
events = engine.process(limit(10, "seller", SELL, 100, 9_997, tif=TimeInForce.IOC), 300)
traded = sum(q for _, q, _ in trades(events))
cancelled = sum(e.cancelled_quantity for e in events if isinstance(e, OrderCancelled))
print("traded", traded, "cancelled", cancelled, "book bids now", book.depth(5)[0])
check_answer("IOC lots traded", predicted_traded, traded, hint="the 40-lot bid at 99.96 is below the limit")
check_answer("IOC lots cancelled", predicted_cancelled, cancelled)

# %%
engine.process(CancelOrder(7, "mm-c"), 400)
check_answer("bids after cancelling order 7", book.depth(5)[0], [])

# %% [markdown]
# ## Summary
# * A book is two sorted queues of resting limit orders; matching is price first, then time.
# * Trades print at the resting price; an aggressive order *walks* the levels it needs.
# * A market order's cost grows with its size relative to the depth: the thinner the book, the larger the impact and
#   the wider the spread it leaves. Tutorial 2 shows this at scale, in a flash crash.
