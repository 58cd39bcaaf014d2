# imagine-bot: the Discord bot in a small image. Settings come from the environment
# (docker run --env-file .env ...); the database lives on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/imagine-bot.sqlite3

WORKDIR /app
# Exactly the locked versions, each checked against its hash (see README: the lock file).
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 imagine \
    && mkdir -p /data && chown imagine /data

USER imagine
WORKDIR /data
VOLUME ["/data"]
# SIGTERM (docker stop) stops taking jobs and leaves the rest for the next start.
STOPSIGNAL SIGTERM
# The running bot rewrites /data/imagine-bot.heartbeat; `health` reads it (exit 0 or 1).
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
    CMD ["imagine-bot", "health"]
ENTRYPOINT ["imagine-bot"]
CMD ["run"]
