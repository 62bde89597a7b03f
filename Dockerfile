# The Airlock gateway. It builds every sandbox itself (user namespaces, cgroups, seccomp,
# Landlock) and therefore runs as root and needs a few container options Docker does not
# give by default: docker-compose.yml lists them, each with what breaks without it.
#
#   docker build -t airlock .
#   docker compose up -d        # the supported way to run it (security options, cgroups)

# Python 3.11: pyproject.toml requires >=3.11,<3.12. Pin by digest in production: every
# sandbox runs on this image's interpreter and libraries, bound read-only into it.
FROM python:3.11-slim-bookworm

# No .pyc files written at run time (the root filesystem may be read-only), logs unbuffered
# so that `docker logs` shows each line as it is written; pip runs as root on purpose.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# libseccomp2: pyseccomp loads it with ctypes to compile each profile's seccomp program.
# The slim image happens to carry it today (apt depends on it); installing it by name keeps
# the gateway working if the base image ever drops it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libseccomp2 \
    && rm -rf /var/lib/apt/lists/*

# Building behind a package mirror (PyPI not reachable, or only through a proxy):
#   docker build --build-arg PIP_INDEX_URL=https://mirror.internal/simple .
# (--build-arg PIP_TRUSTED_HOST=HOST for a mirror on plain HTTP). No defaults: unset, pip
# uses PyPI. pip reads both from the environment of the RUN steps below, `pip install` and
# `airlock runtimes build` alike. They do not persist into the image's environment (the
# running gateway uses its own pip configuration), but `docker history` shows their values:
# never put credentials into them.
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST

# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
# README.md: hatchling reads it as the package's long description and fails without it.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY airlock ./airlock
COPY gateway ./gateway
COPY runner ./runner
COPY sandbox_profiles ./sandbox_profiles
# A regular (not editable) install into /usr/local: every sandbox bind-mounts the Python
# installation read-only, so the runner and the shipped profiles (gateway/_shipped_profiles
# in the wheel) must live there. The sources are removed afterwards so that nothing is
# imported from, or bound out of, a second copy.
RUN pip install --no-cache-dir /src && rm -rf /src
# Workers never write bytecode and the root filesystem is read-only at run time: compile
# the runner now, with the very check the gateway makes at start (gateway/sandbox/bytecode.py).
RUN python -c "from gateway.sandbox import bytecode; assert bytecode.precompile() and not bytecode.stale()"
WORKDIR /

# The default plugin runtime (Open WebUI 0.12.4's packages, ~760 MB), baked in so that the
# gateway starts at once instead of building it on first start. Outside the data volume: it
# belongs to this image (its content address includes the interpreter). --unconfined because
# `docker build` can make no sandbox; the lock pins every wheel by hash, so pip takes exactly
# those files and runs none of their code (docs/RUNTIMES.md).
ENV AIRLOCK_RUNTIMES_DIR=/opt/airlock/runtimes
RUN airlock runtimes build --unconfined && rm -rf /root/.cache/pip

# Listen on every interface of the container, or published ports cannot reach the gateway.
# A non-loopback gRPC listener needs authentication: docker-compose.yml refuses to start
# without AIRLOCK_ADMIN_TOKEN and AIRLOCK_INVOKER_TOKEN, and the gateway warns loudly when
# it listens like this without any.
ENV AIRLOCK_LISTEN=0.0.0.0:50051 \
    AIRLOCK_METRICS_LISTEN=0.0.0.0:9464 \
    AIRLOCK_DATA_DIR=/var/lib/airlock \
    AIRLOCK_LOG_FORMAT=json

# The function registry (registry.sqlite3): the only state worth keeping across containers.
VOLUME /var/lib/airlock
# gRPC API, Prometheus /metrics.
EXPOSE 50051 9464

# SIGTERM drains: no new invocations, running ones get AIRLOCK_SHUTDOWN_GRACE_SECONDS to
# finish, then every sandbox is killed and its cgroup removed. Give `docker stop` more
# time than that (compose: stop_grace_period).
STOPSIGNAL SIGTERM

# The gRPC health service: exit 0 only while it answers SERVING (it stays unauthenticated
# when tokens are set). The start period covers start-up, which starts the zygote and warm
# pool of every warm profile (AIRLOCK_WARM_UP). Change the port here if you change
# AIRLOCK_LISTEN; a gateway serving TLS needs a health check that speaks TLS.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["airlock", "--target", "127.0.0.1:50051", "health"]

# No USER: the gateway must be root in the container. It writes the uid/gid maps of every
# sandbox, hands each one a uid of its own (200000 and up) and creates cgroups; each
# sandbox then drops every capability and runs as that unprivileged uid.
ENTRYPOINT ["airlock"]
CMD ["serve"]
