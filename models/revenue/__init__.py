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
from models.revenue.wallet import balances, earnings_between, monthly_earnings, top_tracks

__all__ = [
    "Statement",
    "StatementStatus",
    "Upload",
    "UploadStatus",
    "Withdrawal",
    "WithdrawalEvent",
    "WithdrawalStatus",
    "balances",
    "earnings_between",
    "monthly_earnings",
    "top_tracks",
]
