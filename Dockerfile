# Backline's one image: the API, the workers, the scheduler and the migrations all run from it
# (docker-compose.yml picks the command). Build: docker build -t backline .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then Backline itself; alembic.ini and migrations/ stay in /app, where `alembic` runs.
COPY . .
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin backline

USER backline
EXPOSE 8000

# The server's settings (gevent workers, keep-alive, JSON errors) are in config/server.py.
CMD ["gunicorn", "-c", "python:config.server", "web:create_app()", "--bind", "0.0.0.0:8000"]
