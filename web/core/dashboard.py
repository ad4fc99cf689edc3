"""/admin: the operators' dashboard, a static page whose data all comes from the admin API.

The page holds no data and no secret, so anyone may load it; it logs in through
/api/v1/auth and reads /api/v1/admin/ops with a bearer token, which only platform admins'
tokens get past. Job params and errors are user-controlled, so the page is locked down: its
Content-Security-Policy allows scripts and styles from this origin only (nothing inline),
fetches to this origin only, and no framing; the script writes API data as text, never HTML.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template

from web.core.context import platform

blp = Blueprint(
    "admin_page",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="admin_static",
    static_url_path="/static",
)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        # The login form is sent by the script; should the script not run, the browser must
        # not fall back on submitting the password in a URL.
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@blp.get("")
@blp.get("/")
def dashboard() -> str:
    """The dashboard page; the environment's name is its only server-side content."""
    return render_template("admin.html", env=platform().settings.env)


@blp.after_request
def _lock_down(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
