# Keywarden: one image for every process. Its default command runs the whole bot (`python -m bot`: Slack over
# HTTP on PORT, or Socket Mode with SLACK_APP_TOKEN, and the scheduler) on SQLite in the /data volume:
#   docker run --init -p 3000:3000 --env-file .env -v keywarden-data:/data keywarden
# Several processes on PostgreSQL run the Procfile's lines instead (tests/unit/test_deploy.py checks):
#   web:     sh -c "exec waitress-serve --listen=0.0.0.0:${PORT:-3000} --threads=4 --ident=keywarden --call bot.entrypoints.web:create_wsgi_app"
#   release: python -m bot db upgrade
#   clock:   python -m bot scheduler
#   worker:  python -m bot worker   (optional: with WORK_IN=worker, web processes only ack and record)
# as compose.yaml, deploy/kubernetes/ and deploy/aws/service.yaml do.
#
# The base is an exact tag. Where your registry allows it, pin its digest too (the digest the tag has when you
# build, from `docker buildx imagetools inspect python:3.11.13-slim-bookworm`):
#   FROM python:3.11.13-slim-bookworm@sha256:<digest>
FROM python:3.11.13-slim-bookworm

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="Keywarden" \
      org.opencontainers.image.description="A Slack bot for the whole life of AWS IAM access keys" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.13-slim-bookworm"

# The code lives in /app; the working directory is /data, so that SQLite's file (and an empty DATABASE_URL,
# whose default is keywarden.db in the working directory) lands in the volume.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/keywarden.db

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY Procfile deploy/healthcheck.py ./
COPY bot ./bot
COPY handlers ./handlers

# A numeric user, so that Kubernetes' runAsNonRoot can verify it; it owns /data and nothing else.
RUN groupadd --system --gid 10001 keywarden \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin keywarden \
    && mkdir /data && chown 10001:10001 /data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]

EXPOSE 3000
# GET /livez on PORT (METRICS_PORT in Socket Mode); `python /app/healthcheck.py 9100` checks another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "/app/healthcheck.py"]
CMD ["python", "-m", "bot"]
