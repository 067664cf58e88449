# Multi-stage image of the read model: uv installs the locked environment, the runtime
# stage carries only the virtualenv and the code, and runs as a non-root user.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY projector ./projector
COPY query_api ./query_api
COPY shared ./shared
RUN uv sync --locked --no-dev

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 readmodel
WORKDIR /app
COPY --from=build --chown=readmodel:readmodel /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1
USER readmodel
EXPOSE 5001
CMD ["readmodel", "serve", "--host", "0.0.0.0", "--port", "5001"]
