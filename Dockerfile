# syntax=docker/dockerfile:1
# The one MachineNativeOps image: every agent, `mno migrate` and the CLI. One process per container:
#   docker run IMAGE super_agent            (ENTRYPOINT is `mno agent`)
#   docker run --entrypoint mno IMAGE migrate
# Configuration: /etc/mno/machine-native-ops.yaml (the repository's config/machine-native-ops.yaml,
# driven by ${ENV} variables; Kubernetes mounts its own file over /etc/mno). The process writes only
# to /tmp and to the data volume /var/lib/mno, so the root filesystem can be read-only.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the project and its dependencies in a virtualenv -------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/mno
WORKDIR /src
# Every dependency from the lock, pinned with hashes (`make lock`; the same versions `make test` ran),
# before the sources: this layer is rebuilt only when the lock changes. The lock names no `local`
# extra (embedded NATS and PostgreSQL): containers use real servers.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN /opt/mno/bin/pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml ./
COPY agents ./agents
COPY services ./services
COPY shared ./shared
COPY mno ./mno
COPY database ./database
# The wire contract the server shares with the SDK: a distribution of this repository, not on PyPI,
# installed from its directory like the project. --no-deps: everything else came from the lock (pip
# check fails the build otherwise); --no-build-isolation: built with the locked setuptools.
# (pip compiles the bytecode at install: nothing is written at run time.)
COPY sdk/mno-wire ./sdk/mno-wire
RUN /opt/mno/bin/pip install --no-deps --no-build-isolation ./sdk/mno-wire . \
 && /opt/mno/bin/pip check

# --- runtime -------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# A fixed numeric uid/gid, so Kubernetes can check runAsNonRoot and volumes can be shared.
RUN groupadd --system --gid 10001 mno \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin mno \
 && mkdir -p /var/lib/mno \
 && chown 10001:10001 /var/lib/mno
COPY --from=build /opt/mno /opt/mno
COPY config/machine-native-ops.yaml /etc/mno/machine-native-ops.yaml
ENV PATH=/opt/mno/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MNO_CONFIG=/etc/mno/machine-native-ops.yaml \
    MNO_DATA_DIR=/var/lib/mno \
    MNO_HTTP_HOST=0.0.0.0 \
    MNO_METRICS_HOST=0.0.0.0
WORKDIR /var/lib/mno
USER 10001:10001
EXPOSE 8080 9100 9101 9102 9103 9104
ENTRYPOINT ["mno", "agent"]
