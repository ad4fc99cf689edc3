"""The links in a sent mail, answered with no session: one-click unsubscribe, the open pixel
and click redirects. Each link carries a signed token (models/mail/links.py); a token that
does not verify is a 404.

Unsubscribe follows RFC 8058: the mail's `List-Unsubscribe` names `/u/<token>` and its
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`; a POST there unsubscribes at once (the
mail client's one click, or the button of the page), with no session and no CSRF token. A
GET never unsubscribes (link scanners and previews follow GETs): it shows a page with the
button.
"""

from __future__ import annotations

import base64
from html import escape

from flask import Response, redirect
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.wrappers import Response as WerkzeugResponse

from models.core.errors import NotFound
from models.mail import links, tracking
from web.core import limits
from web.core.context import db, platform
from web.core.uploads import accepts_upload

blp = Blueprint(
    "mail_links",
    __name__,
    url_prefix="/api/v1/mail",
    description="The links in a sent mail: one-click unsubscribe, open pixel, click redirects.",
)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
</head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">{body}
</body></html>"""


def _page(title: str, body: str, status: int = 200) -> Response:
    return Response(
        _PAGE.format(title=escape(title), body=body),
        status=status,
        mimetype="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _send_id(purpose: str, token: str) -> int:
    send_id = links.send_of(platform().settings.jwt_secret, purpose, token)
    if send_id is None:
        raise NotFound("this link is not valid")
    return send_id


@blp.route("/u/<string:token>", methods=["GET"], endpoint="unsubscribe_page")
@limits.per_ip("rate_limit_mail_links")
@blp.response(200, description="A page asking to confirm.", content_type="text/html")
@blp.alt_response(404, description="The link is not valid.")
def unsubscribe_page(token: str) -> Response:
    """The unsubscribe page: a button that confirms (a GET never unsubscribes)"""
    _send_id("unsubscribe", token)
    return _page(
        "Unsubscribe",
        "<h1>Unsubscribe?</h1><p>You will no longer receive these e-mails.</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" '
        'value="One-Click"><button type="submit">Unsubscribe</button></form>',
    )


@blp.route("/u/<string:token>", methods=["POST"], endpoint="unsubscribe")
@limits.per_ip("rate_limit_mail_links")
@blp.response(200, description="Unsubscribed.", content_type="text/html")
@blp.alt_response(404, description="The link is not valid.")
@accepts_upload(lambda settings: 4096)  # a form body (RFC 8058), not JSON
def unsubscribe(token: str) -> Response:
    """One-click unsubscribe (RFC 8058): no session needed, the signed link is enough"""
    send_id = _send_id("unsubscribe", token)
    if tracking.unsubscribe(session=db(), send_id=send_id) is None:
        raise NotFound("this link is not valid")
    db().commit()
    return _page("Unsubscribed", "<h1>You are unsubscribed.</h1>")


@blp.route("/o/<string:token>.gif")
class OpenPixel(MethodView):
    @limits.per_ip("rate_limit_mail_links")
    @blp.response(200, description="A 1×1 transparent GIF.", content_type="image/gif")
    @blp.alt_response(404, description="The link is not valid.")
    def get(self, token: str) -> Response:
        """The open-tracking pixel (an approximate count: many clients block images)"""
        tracking.record(session=db(), send_id=_send_id("open", token), event="opened")
        db().commit()
        return Response(PIXEL, mimetype="image/gif", headers={"Cache-Control": "no-store"})


@blp.route("/c/<string:token>")
class Click(MethodView):
    @limits.per_ip("rate_limit_mail_links")
    @blp.response(302, description="To the link the mail contained.")
    @blp.alt_response(404, description="The link is not valid (never a redirect elsewhere).")
    def get(self, token: str) -> WerkzeugResponse:
        """A tracked link: counted, then redirected to the address signed into it"""
        found = links.click_of(platform().settings.jwt_secret, token)
        if found is None:
            raise NotFound("this link is not valid")
        send_id, url = found
        tracking.record(session=db(), send_id=send_id, event="clicked")
        db().commit()
        return redirect(url, code=302)
