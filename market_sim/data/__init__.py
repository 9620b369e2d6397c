"""Historical market data: validated readers for bars, trades, quotes and L2 depth diffs (CSV, Parquet)."""
