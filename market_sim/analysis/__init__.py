"""Performance analytics and risk measures on equity curves, return series, fills and positions."""
