"""`market-sim serve`: the REST and WebSocket API (market_sim.api) under uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from market_sim.core.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
        token_file: Path = typer.Option(None, "--token-file",
                                        help="Tokens, one `TOKEN ROLE [ACCOUNT]` a line (roles: read, trader, "
                                             "admin). Without it a one-off admin token is printed at start."),
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
        rate: float = typer.Option(50.0, "--rate", min=0.001, help="Requests per second per token (average)."),
        burst: int = typer.Option(100, "--burst", min=1, help="Requests per token in a burst."),
        cors_origin: list[str] = typer.Option([], "--cors-origin",
                                              help="Allow this browser origin cross-origin (CORS is off by "
                                                   "default); repeat for more."),
    ) -> None:
        """Serve the REST and WebSocket API (docs/api.md; the OpenAPI pages at /docs)."""
        try:
            import uvicorn

            from market_sim.api.app import create_app
        except ImportError as exc:
            raise ConfigError(f"the API needs the api extra (pip install 'market-sim[api]'): {exc}") from None
        from market_sim.api.auth import TokenStore, new_token

        if token_file is not None:
            tokens = TokenStore.from_file(token_file)
        else:
            token = new_token()
            tokens = TokenStore([(token, "admin", None)])
            typer.echo(f"admin token (this run only): {token}", err=True)
        application = create_app(tokens, runs_dir=out, rate=rate, burst=burst, cors_origins=cors_origin)
        typer.echo(f"serving on http://{host}:{port} (OpenAPI at /docs)", err=True)
        from market_sim.api.server import tune_gc, uvicorn_config

        tune_gc()
        try:
            uvicorn.Server(uvicorn_config(application, host, port)).run()
        finally:
            application.state.sims.shutdown()
