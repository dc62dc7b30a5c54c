"""``python -m conformance mp1|rnis|location|bwm --base-url URL --operator-token TOKEN``
(``--reference DIR``: where the official files are), and
``python -m conformance osb --base-url URL --username U --password P [--service NAME]``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from conformance.mp1 import DEFAULT_REFERENCE, REFERENCE_FILES, Options, run_mp1
from conformance.reference import ReferenceLoadError
from conformance.rnis import REFERENCE_FILE as RNIS_REFERENCE
from conformance.rnis import run_rnis
from conformance.runner import render

cli = typer.Typer(add_completion=False, no_args_is_help=True)


@cli.callback()
def main() -> None:
    """Conformance checks of a running platform against the official reference files."""


@cli.command()
def mp1(
    base_url: Annotated[str, typer.Option(help="The platform, e.g. http://127.0.0.1:8080")],
    operator_token: Annotated[str, typer.Option(help="The operator token (MEP_ADMIN_TOKEN)")],
    reference: Annotated[
        Path,
        typer.Option(help="Directory holding the official MEC011_*.yaml files"),
    ] = DEFAULT_REFERENCE,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for each notification", min=0.5)
    ] = 5.0,
) -> None:
    """Play the Mp1 scenario and print one row per check; exit 1 when any check fails."""
    missing = [f for f in REFERENCE_FILES.values() if not (reference / f).is_file()]
    if missing:
        typer.echo(f"{reference}: missing {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    try:
        rows = asyncio.run(run_mp1(Options(base_url, operator_token, reference, wait)))
    except ReferenceLoadError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    typer.echo(render(rows))
    raise typer.Exit(1 if any(row.problems for row in rows) else 0)


@cli.command()
def rnis(
    base_url: Annotated[str, typer.Option(help="The platform, e.g. http://127.0.0.1:8080")],
    operator_token: Annotated[str, typer.Option(help="The operator token (MEP_ADMIN_TOKEN)")],
    reference: Annotated[
        Path,
        typer.Option(help="Directory holding the official MEC012_RniAPI.yaml"),
    ] = DEFAULT_REFERENCE,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for each notification", min=0.5)
    ] = 5.0,
) -> None:
    """Play the RNIS scenario and print one row per check; exit 1 when any check fails."""
    if not (reference / RNIS_REFERENCE).is_file():
        typer.echo(f"{reference}: missing {RNIS_REFERENCE}", err=True)
        raise typer.Exit(2)
    try:
        rows = asyncio.run(run_rnis(Options(base_url, operator_token, reference, wait)))
    except ReferenceLoadError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    typer.echo(render(rows))
    raise typer.Exit(1 if any(row.problems for row in rows) else 0)


@cli.command()
def location(
    base_url: Annotated[str, typer.Option(help="The platform, e.g. http://127.0.0.1:8080")],
    operator_token: Annotated[str, typer.Option(help="The operator token (MEP_ADMIN_TOKEN)")],
    reference: Annotated[
        Path,
        typer.Option(help="Directory holding the official MEC013_LocationAPI.yaml"),
    ] = DEFAULT_REFERENCE,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for each notification", min=0.5)
    ] = 5.0,
) -> None:
    """Play the Location scenario and print one row per check; exit 1 when any check fails."""
    from conformance.location import REFERENCE_FILE, run_location

    if not (reference / REFERENCE_FILE).is_file():
        typer.echo(f"{reference}: missing {REFERENCE_FILE}", err=True)
        raise typer.Exit(2)
    try:
        rows = asyncio.run(run_location(Options(base_url, operator_token, reference, wait)))
    except ReferenceLoadError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    typer.echo(render(rows))
    raise typer.Exit(1 if any(row.problems for row in rows) else 0)


@cli.command()
def bwm(
    base_url: Annotated[str, typer.Option(help="The platform, e.g. http://127.0.0.1:8080")],
    operator_token: Annotated[str, typer.Option(help="The operator token (MEP_ADMIN_TOKEN)")],
    reference: Annotated[
        Path,
        typer.Option(help="Directory holding the official MEC015_BwManagementAPI.yaml"),
    ] = DEFAULT_REFERENCE,
) -> None:
    """Play the BWM scenario and print one row per check; exit 1 when any check fails."""
    from conformance.bwm import REFERENCE_FILE, run_bwm

    if not (reference / REFERENCE_FILE).is_file():
        typer.echo(f"{reference}: missing {REFERENCE_FILE}", err=True)
        raise typer.Exit(2)
    try:
        rows = asyncio.run(run_bwm(Options(base_url, operator_token, reference)))
    except ReferenceLoadError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    typer.echo(render(rows))
    raise typer.Exit(1 if any(row.problems for row in rows) else 0)


@cli.command()
def osb(
    base_url: Annotated[str, typer.Option(help="The broker, e.g. http://127.0.0.1:8081")],
    username: Annotated[str, typer.Option(help="The broker's Basic user (OSB_USERNAME)")],
    password: Annotated[str, typer.Option(help="The broker's Basic password (OSB_PASSWORD)")],
    reference: Annotated[
        Path | None,
        typer.Option(help="Directory holding the official OSB swagger.yaml"),
    ] = None,
    service: Annotated[
        str | None, typer.Option(help="The catalog service to use (default: the first)")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds an asynchronous operation may take", min=1.0)
    ] = 60.0,
) -> None:
    """Play the Open Service Broker scenario and print one row per check; exit 1 when any
    check fails."""
    from conformance.osb import DEFAULT_REFERENCE as OSB_REFERENCE
    from conformance.osb import LEGEND, REFERENCE_FILE, run_osb
    from conformance.osb import Options as OsbOptions

    folder = reference if reference is not None else OSB_REFERENCE
    if not (folder / REFERENCE_FILE).is_file():
        typer.echo(f"{folder}: missing {REFERENCE_FILE}", err=True)
        raise typer.Exit(2)
    options = OsbOptions(base_url, username, password, folder, service, timeout)
    try:
        rows = asyncio.run(run_osb(options))
    except ReferenceLoadError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    typer.echo(render(rows))
    typer.echo("\n" + LEGEND)
    raise typer.Exit(1 if any(row.problems for row in rows) else 0)


if __name__ == "__main__":
    cli(prog_name="python -m conformance")
