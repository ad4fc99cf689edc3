"""/api/docs: Swagger UI for the API's OpenAPI document, every file of it from this origin.

Swagger UI comes from the flask-swagger-ui package, whose `dist/` is swagger-ui-dist at the
package's version (pinned in pyproject.toml): the page loads no script from another host, and
what it runs is what was installed. Only the files the page uses are served.

The page is locked down like the dashboard: its Content-Security-Policy allows scripts,
styles and fetches from this origin only, nothing inline (Swagger UI is started by a file of
ours, which reads the document's URL from the page) and no framing. Images may also be data:
URIs, which Swagger UI's stylesheet uses for its icons. The online validator (an image from a
third party, told the document's URL) is switched off.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, render_template, send_from_directory, url_for

from web.core.dashboard import SECURITY_HEADERS

# The files of swagger-ui-dist the page uses.
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})

blp = Blueprint(
    "api_docs",
    __name__,
    url_prefix="/api/docs",
    template_folder="templates",
    static_folder="api_docs_static",
    static_url_path="/static",
)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)


@functools.cache
def swagger_ui_dist() -> Path:
    """Where the installed swagger-ui-dist files are."""
    return Path(str(resources.files("flask_swagger_ui") / "dist"))


@blp.get("")
@blp.get("/")
def page() -> str:
    """The docs page: Swagger UI on the OpenAPI document."""
    return render_template("api_docs.html", spec_url=url_for("api-docs.openapi_json"))


@blp.get("/swagger-ui/<name>")
def swagger_ui(name: str) -> Response:
    if name not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(swagger_ui_dist(), name)


@blp.after_request
def _lock_down(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
