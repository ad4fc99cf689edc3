"""The baseline the API is measured against: a bare Flask app doing one primary-key SELECT.

`GET /jobs/<id>` reads one row of the jobs table through a SQLAlchemy connection pool and
answers it as JSON: what any Flask app on the same server settings costs per request, with
none of Backline's authentication, limits, metrics or logging.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from flask import Flask, abort
from sqlalchemy import create_engine, text


def create_app() -> Flask:
    app = Flask(__name__)
    engine = create_engine(
        os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1),
        pool_size=10,
        max_overflow=20,
    )
    query = text("SELECT id, kind, status, created_at FROM jobs WHERE id = :id")

    @app.get("/jobs/<uuid:job_id>")
    def job(job_id: uuid.UUID) -> dict[str, Any]:
        with engine.connect() as conn:
            row = conn.execute(query, {"id": job_id}).mappings().first()
        if row is None:
            abort(404)
        return {**row, "id": str(row["id"]), "created_at": row["created_at"].isoformat()}

    return app
