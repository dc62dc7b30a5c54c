"""The ``mep`` command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from broker.settings import BrokerSettings
from mep.core.logging import configure_logging
from mep.core.settings import MepSettings

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

Opt = typer.Option


def _given(**options: Any) -> dict[str, Any]:
    # Only options on the command line override the MEP_* / OSB_* environment.
    return {name: value for name, value in options.items() if value is not None}


@cli.command()
def run(
    host: Annotated[str | None, Opt(help="Address to bind [MEP_HOST]")] = None,
    port: Annotated[int | None, Opt(help="MEP API port [MEP_PORT]")] = None,
    osb_port: Annotated[int | None, Opt(help="Broker port [OSB_PORT]")] = None,
    tls_port: Annotated[
        int | None, Opt(help="CAPIF/MEP over TLS port, 0 = any free [MEP_TLS_PORT]")
    ] = None,
    dns_port: Annotated[int | None, Opt(help="DNS responder port [MEP_DNS_PORT]")] = None,
    data_dir: Annotated[Path | None, Opt(help="Store and key directory [MEP_DATA_DIR]")] = None,
    store: Annotated[str | None, Opt(help="'sqlite' or a redis:// URL [MEP_STORE]")] = None,
    events: Annotated[str | None, Opt(help="memory | redis | kafka://h:p [MEP_EVENTS]")] = None,
    admin_token: Annotated[str | None, Opt(help="Operator bearer token [MEP_ADMIN_TOKEN]")] = None,
    public_url: Annotated[str | None, Opt(help="Base URL for links [MEP_PUBLIC_URL]")] = None,
    log_level: Annotated[str | None, Opt(help="debug | info | warning [MEP_LOG_LEVEL]")] = None,
    scenario: Annotated[
        str | None, Opt(help="Network: demo | none | a .yaml/.json file [MEP_SCENARIO]")
    ] = None,
    tick_speed: Annotated[
        float | None, Opt(help="Network clock speed-up factor [MEP_TICK_SPEED]")
    ] = None,
) -> None:
    """Start the platform: MEP and CAPIF APIs, and the service broker."""
    from mep.network.scenario import ScenarioError
    from mep.server import serve

    try:
        settings = MepSettings(
            **_given(
                host=host,
                port=port,
                tls_port=tls_port,
                dns_port=dns_port,
                data_dir=data_dir,
                store=store,
                events=events,
                admin_token=admin_token,
                public_url=public_url,
                log_level=log_level,
                scenario=scenario,
                tick_speed=tick_speed,
            )
        )
        broker = BrokerSettings(**_given(port=osb_port))
    except ValidationError as error:
        for item in error.errors(include_url=False):
            field = ".".join(str(p) for p in item["loc"]) or "settings"
            typer.echo(f"invalid setting {field}: {item['msg']}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings, broker))
    except ScenarioError as error:  # the scenario file is read at start: say what is wrong
        typer.echo(f"invalid scenario {error}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def version() -> None:
    """Print the installed version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("mep-platform"))


def main() -> None:
    cli()
