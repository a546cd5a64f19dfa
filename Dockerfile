# livecart node image. Production-like start: `docker compose up` (see docker-compose.yml).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Exactly the lock (requirements/, see scripts/lock): pinned, hash-checked, no resolution at build time,
# the build backend included (builds run without isolation, which would fetch the newest setuptools).
COPY requirements ./requirements
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements/build.txt \
    && pip install --no-cache-dir --no-deps --require-hashes --no-build-isolation -r requirements/run.txt
COPY pyproject.toml README.md ./
COPY server ./server
COPY client_web ./client_web
RUN pip install --no-cache-dir --no-deps --no-build-isolation .
RUN useradd --create-home livecart
USER livecart
EXPOSE 8080
# Without --redis-url the node runs its own redis-server in /data (single-container use).
VOLUME ["/data"]
ENTRYPOINT ["livecart", "serve", "--host", "0.0.0.0", "--data-dir", "/data"]
