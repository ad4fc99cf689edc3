"""The accounts domain's API: sign-up and login, the account itself, login sessions, platform
admins' user and organisation pages, and the `flask users` commands.

`send_mail` is its public function for other domains: the platform's mails on a user's behalf.
"""

from flask import Flask

from web.accounts import account, admin, auth, cli, leaving, providers, sessions
from web.accounts.auth import send_mail
from web.core.auth import install_sign_in

blueprints = [auth.blp, account.blp, sessions.blp, admin.blp, leaving.blp, providers.blp]


def init_app(app: Flask) -> None:
    install_sign_in(app, auth.sign_in)  # who an access token's session belongs to
    app.register_blueprint(cli.users_cli)


__all__ = ["blueprints", "init_app", "send_mail"]
