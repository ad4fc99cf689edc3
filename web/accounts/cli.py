"""`flask --app web users ...`: account commands for operators."""

from __future__ import annotations

import click
from flask import Blueprint

from models.accounts import users as accounts
from models.core.errors import BacklineError
from web.core.context import platform

users_cli = Blueprint("users_cli", __name__, cli_group="users")


@users_cli.cli.command("create-admin")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when left out (keeps it out of the shell history).",
)
@click.option("--name", "display_name", default=None, help="Display name.")
def create_admin(email: str, password: str, display_name: str | None) -> None:
    """Create a platform admin account (verified) with EMAIL."""
    with platform().sessions.begin() as session:
        try:
            user = accounts.create_user(
                session=session,
                email=email,
                password=password,
                display_name=display_name,
                is_admin=True,
            )
        except BacklineError as exc:
            raise click.ClickException(exc.message) from None
        user.email_verified_at = accounts.utcnow()
        click.echo(f"created admin {user.email} ({user.id})")
