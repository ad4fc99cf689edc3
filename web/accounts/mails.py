"""The words of the account mails: subject and plain text, each with what it needs.

Tokens appear on a line of their own ("Token: …") with the endpoint to POST them to; the mails
are internal jobs, so whoever triggered one cannot read the token back through the jobs API.
"""

from __future__ import annotations

from config import Settings
from models.accounts.devices import Device
from models.accounts.logins import END_SESSION_LINK_TTL_S
from models.accounts.users import AuthSession

Mail = tuple[str, str]  # subject, text


def _token_block(settings: Settings, token: str, endpoint: str, ttl_s: int) -> str:
    hours = max(1, ttl_s // 3600)
    return (
        f"Token: {token}\n\n"
        f'(POST it as JSON {{"token": "..."}} to '
        f"{settings.public_base_url}/api/v1/auth/{endpoint})\n"
        f"It expires in {hours} hour{'s' if hours != 1 else ''} and works once."
    )


def verify_email(settings: Settings, token: str, *, welcome: bool) -> Mail:
    opening = "Welcome to Backline." if welcome else "Here is a new confirmation token."
    return (
        "Confirm your e-mail address",
        f"{opening}\n\nConfirm your address with this token:\n\n"
        + _token_block(settings, token, "verify-email", settings.verify_token_ttl_s),
    )


def taken_on_register() -> Mail:
    return (
        "Someone tried to register with your address",
        "Someone tried to create a Backline account with this e-mail address.\n"
        "You already have one: log in, or reset your password if you forgot it.",
    )


def password_reset(settings: Settings, token: str) -> Mail:
    return (
        "Reset your Backline password",
        "Someone (hopefully you) asked to reset the password of your Backline account.\n"
        'Choose a new one by POSTing {"token": "...", "password": "..."} with this token:\n\n'
        + _token_block(settings, token, "reset-password", settings.reset_token_ttl_s)
        + "\n\nIf it was not you, ignore this mail: your password stays as it is.",
    )


def password_changed() -> Mail:
    return (
        "Your Backline password was changed",
        "The password of your Backline account was just changed, and your other sessions were "
        "logged out.\nIf it was not you, reset your password now and check your account.",
    )


def confirm_new_address(settings: Settings, token: str) -> Mail:
    return (
        "Confirm your new e-mail address",
        "Someone (hopefully you) asked to move a Backline account to this address.\n"
        "Confirm it with this token:\n\n"
        + _token_block(settings, token, "confirm-email-change", settings.email_change_token_ttl_s)
        + "\n\nIf it was not you, ignore this mail: nothing changes.",
    )


def address_change_requested(new_email: str) -> Mail:
    return (
        "Your Backline e-mail address is about to change",
        f"Someone asked to move your Backline account to {new_email}.\n"
        "It changes once that address confirms. If it was not you, change your password now: "
        "whoever asked knew it.",
    )


def address_already_registered() -> Mail:
    return (
        "Someone tried to move an account to your address",
        "Someone asked to move their Backline account to this e-mail address, but you already "
        "have an account with it, so nothing changed.\nIf you forgot your password, reset it.",
    )


def login_unlock(settings: Settings, token: str, ip: str | None, device: Device) -> Mail:
    seen = " on ".join(x for x in (device.browser, device.os) if x) or device.device
    return (
        "A login to your Backline account is on hold",
        f"Someone is logging in to your Backline account from {ip} ({seen}), a network you "
        "have not used before, while too many wrong passwords have been tried.\n"
        "If it is you, let that network in with this token, then log in again:\n\n"
        + _token_block(settings, token, "unlock-login", settings.login_unlock_token_ttl_s)
        + "\n\nIf it is not you, ignore this mail and consider changing your password.",
    )


def account_deleted() -> Mail:
    return (
        "Your Backline account is deleted",
        "Your Backline account was deleted, as you asked, and your personal data erased.\n"
        "If it was not you, someone knew your password: we are sorry, the account cannot be "
        "restored, but you may register again with this address.",
    )


def new_country(settings: Settings, token: str, login: AuthSession) -> Mail:
    seen = " on ".join(x for x in (login.browser, login.os) if x) or login.device or "a device"
    where = ", ".join(x for x in (login.city, login.country) if x)
    return (
        f"New login to your Backline account from {where}",
        f"Your Backline account was just logged in to from {where} ({login.ip}), with {seen}: "
        "a country it was never used from before.\n"
        "If it was you, there is nothing to do. If not, end that session with this token, "
        "then change your password:\n\n"
        + _token_block(settings, token, "end-session", END_SESSION_LINK_TTL_S),
    )
