"""``airlock doctor`` and ``airlock profiles check``: what this host and these profiles allow."""

from __future__ import annotations

from pathlib import Path

import click

from gateway.cli.failure import CliError
from gateway.errors import ProfileError


def _profiles_dir(given: Path | None) -> Path:
    from gateway.profiles.loader import shipped_profiles_dir  # noqa: PLC0415

    return given or shipped_profiles_dir()


@click.command()
@click.option(
    "--profiles",
    "profiles_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of sandbox profiles (*.toml).  [default: the shipped profiles]",
)
def doctor(profiles_dir: Path | None) -> None:
    """Report the isolation layers of this host and which profiles can run here.

    Exit status 0 when every profile can run, 1 when some cannot.
    """
    from gateway.profiles import load_profiles  # noqa: PLC0415
    from gateway.sandbox import probe  # noqa: PLC0415

    host = probe.probe()
    for line in host.lines():
        click.echo(line)
    try:
        profiles = load_profiles(_profiles_dir(profiles_dir))
    except ProfileError as exc:
        raise CliError(str(exc)) from None
    click.echo("profiles:")
    refused = 0
    for name, profile in sorted(profiles.items()):
        reasons = probe.refusals(profile, host)
        refused += bool(reasons)
        click.echo(f"  {name}: {'REFUSED: ' + '; '.join(reasons) if reasons else 'can run'}")
    if refused:
        click.get_current_context().exit(1)


@click.group()
def profiles() -> None:
    """Work with sandbox profile files."""


@profiles.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def check(directory: Path) -> None:
    """Validate every *.toml profile in DIRECTORY; errors name the file, line and field."""
    from gateway.profiles.loader import load_profile  # noqa: PLC0415

    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CliError(f"{directory}: no *.toml profiles")
    failures = 0
    for path in files:
        try:
            load_profile(path)
        except ProfileError as exc:
            failures += 1
            click.echo(str(exc), err=True)
        else:
            click.echo(f"{path}: ok")
    if not (directory / "default.toml").exists():
        failures += 1
        click.echo(f"{directory}: no default.toml (every gateway needs a default profile)", err=True)
    if failures:
        click.get_current_context().exit(1)
