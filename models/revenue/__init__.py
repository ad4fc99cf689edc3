"""The revenue domain: distributor reports imported into an exact, per-currency ledger, the
wallet read from it, and withdrawals that never take the available balance below zero."""

from models.revenue import people  # noqa: F401 - registers what it holds about people
from models.revenue.tables import (
    Statement,
    StatementStatus,
    Upload,
    UploadStatus,
    Withdrawal,
    WithdrawalEvent,
    WithdrawalStatus,
)

__all__ = [
    "Statement",
    "StatementStatus",
    "Upload",
    "UploadStatus",
    "Withdrawal",
    "WithdrawalEvent",
    "WithdrawalStatus",
]
