"""The live API: stream sessions, effects and their triggers, brand kits, and what an
overlay link opens (its event stream, its assets, the overlay page)."""

from __future__ import annotations

from flask import Flask

from web.live import brand_kits, effects, feed, overlay, sessions

blueprints = [sessions.blp, effects.blp, brand_kits.blp, overlay.blp]


def init_app(app: Flask) -> None:
    feed.init_app(app)
    app.register_blueprint(overlay.page_blp)
