FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 NUMBA_CACHE_DIR=/app/.cache/numba
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml README.md ./
COPY thunes ./thunes
COPY conf ./conf
RUN uv sync --no-dev --compile-bytecode
ENTRYPOINT ["/app/.venv/bin/thunes"]
CMD ["mode=backtest"]
