# syntax=docker/dockerfile:1
#
# One image recipe for every service of the suite (services/<name>, package commerce-<name>,
# module <name>_service: docs/conventions.md). Build from the REPOSITORY ROOT (the uv workspace):
#
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=user -t commerce-user:dev .
#
# Stages:
#   manifests  every pyproject.toml of the workspace + uv.lock, nothing else (uv needs all workspace
#              members to check the lock; only these files decide the dependency layer's cache)
#   builder    third-party dependencies first (cached until a manifest or the lock changes), then the
#              workspace code, installed as real wheels (--no-editable) into /app/.venv
#   runtime    the slim Python image + /app/.venv, as an unprivileged user; no compiler, no uv, no source
#
# No HEALTHCHECK: Kubernetes probes (/health/live, /health/ready) and the compose healthchecks do it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY . .
# Keep the directory layout, drop everything but the manifests.
RUN find . -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find . -depth -type d -empty -delete

FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE=user
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# 1. Dependencies only: this layer is rebuilt only when a pyproject.toml or uv.lock changes.
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --package "commerce-${SERVICE}" --locked --no-dev --no-editable --no-install-workspace

# 2. The code: the shared libraries and this one service (tests are kept out by .dockerignore).
COPY libs/ libs/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --package "commerce-${SERVICE}" --locked --no-dev --no-editable \
    && /app/.venv/bin/python -c "import ${SERVICE}_service.__main__"

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE=user
LABEL org.opencontainers.image.title="commerce-${SERVICE}" \
      org.opencontainers.image.description="The ${SERVICE} service of the commerce suite"
# A fixed numeric uid/gid, so Kubernetes can check runAsNonRoot.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=builder --chown=root:root /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SERVICE_MODULE="${SERVICE}_service"
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Shell form only to expand SERVICE_MODULE; `exec` makes Python PID 1, so it receives SIGTERM itself.
# Deployments and compose spell the command out: python -m <name>_service serve|migrate.
# hadolint ignore=DL3025
CMD exec python -m "${SERVICE_MODULE}" serve --host 0.0.0.0 --port 8000
