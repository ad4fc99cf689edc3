"""/api/v1/wallet: earnings per currency (never converted) and withdrawals.

The summary is read from per-artist rollups kept in the import's transaction. Withdrawals take
their amount from the available balance at once (a rejection gives it back); platform admins
approve, reject (with a reason) or mark them paid; the artist is mailed at each change and
every change is in the withdrawal's audit trail.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from models.accounts import User
from models.revenue import Withdrawal, WithdrawalStatus
from models.revenue import wallet as wallet_domain
from models.revenue import withdrawals as withdrawals_domain
from models.revenue.tables import PayoutMethod
from web.accounts import send_mail
from web.core.auth import BEARER, admin_required, auth_required, current_viewer
from web.core.context import db, platform
from web.core.fields import BigInt, Text
from web.revenue.common import Money, artist_org, require_manager
from web.revenue.uploads import ArtistQuery

blp = Blueprint(
    "wallet", __name__, url_prefix="/api/v1/wallet", description="Earnings and withdrawals."
)


# -- schemas ---------------------------------------------------------------------------------
class SummaryQuery(ArtistQuery):
    days = BigInt(
        validate=validate.OneOf(wallet_domain.RANGES),
        metadata={"description": "7, 30 or 90; leave out for all time."},
    )


class Breakdown(Schema):
    key = Text(required=True)
    title = Text()
    amount = Money(required=True)
    quantity = BigInt(required=True)


class MonthRead(Schema):
    month = Text(required=True, metadata={"example": "2024-03"})
    amount = Money(required=True)
    quantity = BigInt(required=True)


class BalanceRead(Schema):
    earned = Money(required=True)
    held = Money(required=True, metadata={"description": "Withdrawals requested or paid."})
    available = Money(required=True)


class CurrencySummary(Schema):
    currency = Text(required=True)
    total = Money(required=True, metadata={"description": "Earned in the range."})
    balance = fields.Nested(BalanceRead, required=True)
    by_store = fields.List(fields.Nested(Breakdown), required=True)
    by_country = fields.List(fields.Nested(Breakdown), required=True)
    by_track = fields.List(fields.Nested(Breakdown), required=True)
    by_month = fields.List(fields.Nested(MonthRead), required=True)


class SummaryRead(Schema):
    days = BigInt(allow_none=True)
    since = fields.Date(allow_none=True)
    currencies = fields.List(fields.Nested(CurrencySummary), required=True)


class PayoutMethodWrite(Schema):
    kind = Text(required=True, validate=validate.OneOf(("paypal", "bank")))
    details = Text(required=True, validate=validate.Length(min=3, max=400))


class PayoutMethodRead(PayoutMethodWrite):
    updated_at = fields.DateTime(required=True)


def _payable(amount: Decimal) -> None:
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or amount <= 0 or (isinstance(exponent, int) and exponent < -2):
        raise ValidationError("a positive amount with at most two decimal places")


class WithdrawalCreate(Schema):
    currency = Text(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    amount = Money(
        required=True,
        validate=_payable,
        metadata={"description": 'A positive amount in cents at most, as a string: "25.50".'},
    )


class WithdrawalEventRead(Schema):
    status = fields.Enum(WithdrawalStatus, by_value=True, required=True)
    actor_id = fields.UUID(allow_none=True)
    note = Text(allow_none=True)
    created_at = fields.DateTime(required=True)


class WithdrawalRead(Schema):
    id = fields.UUID(required=True)
    org_id = fields.UUID(required=True)
    currency = Text(required=True)
    amount = Money(required=True)
    status = fields.Enum(WithdrawalStatus, by_value=True, required=True)
    payout_method = Text(required=True)
    reason = Text(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class WithdrawalDetail(WithdrawalRead):
    audit = fields.List(fields.Nested(WithdrawalEventRead), required=True)


class WithdrawalQuery(ArtistQuery):
    cursor = Text()
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class WithdrawalPage(Schema):
    items = fields.List(fields.Nested(WithdrawalRead), required=True)
    next_cursor = Text(allow_none=True)


class Decision(Schema):
    action = Text(required=True, validate=validate.OneOf(("approve", "reject", "pay")))
    reason = Text(validate=validate.Length(max=500))


# -- helpers ---------------------------------------------------------------------------------
def _mail_artist(withdrawal: Withdrawal) -> None:
    if withdrawal.requested_by is None:
        return
    user = db().get(User, withdrawal.requested_by)
    if user is None:
        return
    reason = f"\nReason: {withdrawal.reason}\n" if withdrawal.reason else ""
    send_mail(
        user,
        user.email,
        f"Your withdrawal of {withdrawal.amount:f} {withdrawal.currency} is "
        f"{withdrawal.status.value}",
        f"Your withdrawal of {withdrawal.amount:f} {withdrawal.currency} to "
        f"{withdrawal.payout_method} is now {withdrawal.status.value}.\n{reason}\n"
        f"See it at {platform().settings.public_base_url}/api/v1/wallet/withdrawals/"
        f"{withdrawal.id}",
        org_id=withdrawal.org_id,
    )


def _detail(withdrawal: Withdrawal) -> dict[str, Any]:
    audit = withdrawals_domain.audit_trail(session=db(), withdrawal=withdrawal)
    shown = {name: getattr(withdrawal, name) for name in WithdrawalRead._declared_fields}
    return {**shown, "audit": audit}


# -- views -----------------------------------------------------------------------------------
@blp.route("/summary")
class Summary(MethodView):
    @blp.arguments(SummaryQuery, location="query")
    @blp.response(200, SummaryRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Earnings per currency by store, country, track and month, and the balances"""
        return wallet_domain.summary(
            session=db(), org_id=artist_org(query.get("org_id")), days=query.get("days")
        )


@blp.route("/payout-method")
class PayoutMethodItem(MethodView):
    @blp.arguments(ArtistQuery, location="query")
    @blp.response(200, PayoutMethodRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> PayoutMethod:
        """The payout method on file"""
        return withdrawals_domain.payout_method(
            session=db(), org_id=artist_org(query.get("org_id"))
        )

    @blp.arguments(PayoutMethodWrite)
    @blp.response(200, PayoutMethodRead)
    @blp.doc(security=BEARER)
    @auth_required
    def put(self, body: dict[str, Any]) -> PayoutMethod:
        """Put a payout method on file (owners and admins)"""
        require_manager()
        method = withdrawals_domain.set_payout_method(
            session=db(), org_id=artist_org(None), kind=body["kind"], details=body["details"]
        )
        db().commit()
        return method


@blp.route("/withdrawals")
class Withdrawals(MethodView):
    @blp.arguments(WithdrawalQuery, location="query")
    @blp.response(200, WithdrawalPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Withdrawal history, newest first"""
        items, next_cursor = withdrawals_domain.list_withdrawals(
            session=db(),
            org_id=artist_org(query.get("org_id")),
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": next_cursor}

    @blp.arguments(WithdrawalCreate)
    @blp.response(201, WithdrawalRead)
    @blp.alt_response(409, description="More than the available balance in that currency.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> Withdrawal:
        """Ask to withdraw an amount of one currency (owners and admins)"""
        require_manager()
        withdrawal = withdrawals_domain.request_withdrawal(
            session=db(),
            org_id=artist_org(None),
            user_id=current_viewer().user_id,
            currency=body["currency"],
            amount=body["amount"],
            minimum=platform().settings.revenue_min_withdrawal,
        )
        _mail_artist(withdrawal)
        db().commit()
        return withdrawal


@blp.route("/withdrawals/<uuid:withdrawal_id>")
class WithdrawalItem(MethodView):
    @blp.response(200, WithdrawalDetail)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, withdrawal_id: uuid.UUID) -> dict[str, Any]:
        """One withdrawal and its audit trail"""
        viewer = current_viewer()
        withdrawal = withdrawals_domain.get_withdrawal(
            session=db(),
            withdrawal_id=withdrawal_id,
            org_id=None if viewer.is_admin else artist_org(None),
        )
        return _detail(withdrawal)


@blp.route("/withdrawals/<uuid:withdrawal_id>/decision")
class WithdrawalDecision(MethodView):
    @blp.arguments(Decision)
    @blp.response(200, WithdrawalDetail)
    @blp.alt_response(409, description="Not in a state that allows it.")
    @blp.doc(security=BEARER)
    @admin_required
    def post(self, body: dict[str, Any], withdrawal_id: uuid.UUID) -> dict[str, Any]:
        """Approve, reject (with a reason) or mark paid a withdrawal (platform admins)"""
        withdrawal = withdrawals_domain.decide(
            session=db(),
            withdrawal_id=withdrawal_id,
            actor_id=current_viewer().user_id,
            action=body["action"],
            reason=body.get("reason"),
        )
        _mail_artist(withdrawal)
        db().commit()
        return _detail(withdrawal)
