# Keywarden: one image for every process of the Procfile. The default command is `web`;
# compose.yaml (or your orchestrator) selects `release` and `clock` with the commands below.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY Procfile ./
COPY bot ./bot
COPY handlers ./handlers

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin keywarden
USER keywarden

EXPOSE 3000
# The Procfile's commands, exactly (tests/unit/test_deploy.py checks):
#   web:     the default below
#   release: sh -c "exec python -m bot db upgrade"
#   clock:   sh -c "exec python -m bot scheduler"
CMD ["sh", "-c", "exec waitress-serve --listen=0.0.0.0:${PORT:-3000} --threads=4 --ident=keywarden --call bot.entrypoints.web:create_wsgi_app"]
