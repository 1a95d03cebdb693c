# check=skip=SecretsUsedInArgOrEnv
# (The only secret-looking ARG below is a throwaway key for collectstatic in the build stage;
# it never reaches the runtime image. See docs/deployment.md.)
#
# One image for web, workers, beat and migrations (docker-compose.yml picks the command).
#   docker build -t health-marketplace .
# Runtime configuration comes from the environment only: docs/configuration.md.

# --- build: virtualenv, dependencies and collected static files -----------------------------
FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv \
    && pip install pip==26.3

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# collectstatic imports the production settings, which refuse to load without a secret key.
# This key exists only for that one command, in this stage; override it if you like with
# --build-arg DJANGO_SECRET_KEY=..., but never pass the real key here.
ARG DJANGO_SECRET_KEY=build-only-collectstatic-key-never-used-at-runtime
RUN DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_SECRET_KEY="$DJANGO_SECRET_KEY" \
    MARKETPLACE_VAR_DIR=/app/var \
    python manage.py collectstatic --noinput

# --- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    MARKETPLACE_VAR_DIR=/app/var

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code and collected static files stay owned by root (read-only for the app user); only
# var/ is writable, for the embedded fallbacks (SQLite, filesystem broker, local media).
COPY --from=build /app /app
RUN mkdir -p /app/var && chown app:app /app/var

USER app
EXPOSE 8000

# config/gunicorn.conf.py: JSON access log without paths, metrics added up across processes.
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
