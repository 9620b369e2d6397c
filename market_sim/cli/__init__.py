"""Command-line interface: one module per command group, each defining register(app)."""
