"""The accounts domain: users, their login sessions and tokens, the login audit, and what
platform admins do with accounts. Other domains use it through the names below only.
"""

from models.accounts.users import User

__all__ = ["User"]
