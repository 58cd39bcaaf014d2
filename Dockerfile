# imagine-bot: settings come from the environment (docker run --env-file .env ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install . && useradd --create-home --uid 10001 imagine \
    && mkdir -p /data && chown imagine /data

USER imagine
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["imagine-bot"]
CMD ["providers"]
