"""E-mail addresses as account identities: one canonical form, and no look-alikes.

An address is the key of an account, so two strings that look the same to a person must not
name two accounts, and an address must not hide characters a person cannot see. Every address
that enters Backline (register, login, resend, reset, e-mail change, invitations) goes through
`normalise_email`, which

- refuses control, format (zero-width, bidi overrides), private-use, unassigned and
  space/separator characters anywhere in the address;
- NFC-normalises, then refuses characters whose compatibility form differs (fullwidth
  letters, ligatures, superscripts: `ａｌｉｃｅ@example.com` is not `alice@example.com`);
- refuses non-ASCII before the @ (internationalised mailboxes need SMTPUTF8, and most of the
  look-alikes live there: Cyrillic `а` for Latin `a`);
- refuses a domain label that mixes scripts (`exаmple.com` with a Cyrillic `а`); a domain
  written wholly in one script is allowed and stored in its ASCII (IDNA/punycode) form, so it
  never displays as a look-alike of an ASCII domain;
- checks the syntax with the maintained email-validator package and lower-cases the result.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from models.core.errors import InvalidInput

# Control, format, surrogate, private use, unassigned; line, paragraph and space separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
# Scripts that are written together (Japanese, Korean, Chinese) count as one.
_EAST_ASIAN = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC"})


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": {"email": [message]}})


def _script(char: str) -> str:
    """The script of a letter, from its Unicode name ("CYRILLIC SMALL LETTER A")."""
    first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return "CJK" if first in _EAST_ASIAN else first


def _check_domain_scripts(domain: str) -> None:
    for label in domain.split("."):
        if label.isascii():
            continue
        scripts = {_script(c) for c in label if c.isalpha()}
        if len(scripts) > 1:
            raise _refuse(
                "the domain mixes alphabets ("
                + ", ".join(sorted(s.lower() for s in scripts))
                + "); write it in one"
            )


def normalise_email(raw: str) -> str:
    """The canonical form of an address; InvalidInput (with a field error) if it has none."""
    address = raw.strip()
    if any(unicodedata.category(c) in _INVISIBLE for c in address):
        raise _refuse("the address contains invisible, control or space characters")
    address = unicodedata.normalize("NFC", address)
    if unicodedata.normalize("NFKC", address) != address:
        raise _refuse(
            "the address contains look-alike characters (fullwidth or other compatibility "
            "forms); type it in plain letters"
        )
    local, at, domain = address.rpartition("@")
    if not at:
        raise _refuse("an e-mail address needs an @")
    if not local.isascii():
        raise _refuse("the part before the @ must be plain ASCII letters, digits and symbols")
    _check_domain_scripts(domain)
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise _refuse(str(error)) from None
    return (checked.ascii_email or checked.normalized).lower()
