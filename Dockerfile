# THUNES in a container: `make docker-build`, then `make docker-run` (compose.yaml) or
#   docker run --rm -v "$PWD/experiments:/app/experiments" thunes:latest mode=backtest
# Two stages: the builder resolves and installs with uv; the runtime stage copies only the
# installed app and runs it as an unprivileged user. Secrets come from the environment at run
# time (compose's env_file), never from the image: .dockerignore keeps .env out of the context.
ARG PYTHON_IMAGE=python:3.12-slim-trixie

FROM ${PYTHON_IMAGE} AS builder
# uv from the package registry, pinned (the Makefile installs it the same way).
RUN pip install --no-cache-dir "uv==0.13.9"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.12 \
    UV_NO_CACHE=1
WORKDIR /app
# Dependencies first, in their own layer: a change to the code alone does not reinstall them.
COPY pyproject.toml README.md ./
RUN uv sync --no-dev --no-install-project
COPY thunes ./thunes
COPY hydra_plugins ./hydra_plugins
COPY conf ./conf
RUN uv sync --no-dev

FROM ${PYTHON_IMAGE} AS runtime
# A numeric id (10001, group 10001), so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 thunes \
    && useradd --system --uid 10001 --gid thunes --home-dir /app --shell /usr/sbin/nologin thunes
ENV PATH=/app/.venv/bin:$PATH \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    NUMBA_CACHE_DIR=/app/.cache/numba \
    MPLCONFIGDIR=/app/.cache/matplotlib
WORKDIR /app
# THUNES finds conf/ beside its package (thunes/paths.py): the app keeps the builder's layout.
COPY --from=builder --chown=thunes:thunes /app /app
# The caches are writable by any user id: compose runs the bot as the host user's id, so
# that the files it writes into bind-mounted folders stay the user's.
RUN install -d -o thunes -g thunes /app/experiments /app/mlruns /app/state \
    && install -d -m 1777 /app/.cache
USER 10001:10001
# 8765: the control API (ops.api_port), bound to 127.0.0.1 inside the container unless a
# bearer token is set. 9308: the Prometheus metrics (ops.metrics_port).
EXPOSE 8765 9308
# The control API's health endpoint answers in paper and live modes (the image's default).
# A backtest or a sweep starts no API: run those with `--no-healthcheck`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/health', timeout=4)"]
ENTRYPOINT ["thunes"]
CMD ["mode=paper", "paper.view=false"]
