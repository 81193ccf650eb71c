# coo: one image for both Fly.io processes (web: `coo serve`, worker: `coo worker`).
# Everything is installed at build time; nothing is downloaded when the app starts.
FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY graph ./graph
COPY agents ./agents
COPY memory ./memory
COPY connectors ./connectors
RUN python -m venv /venv && /venv/bin/pip install ".[all]"

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 coo && mkdir -p /data && chown coo /data
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH COO_DATA_DIR=/data PORT=8080 PYTHONUNBUFFERED=1
USER coo
EXPOSE 8080
CMD ["coo", "serve"]
