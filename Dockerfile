# One image, two roles: `recsys-serve` (the default command) and `recsys-train`.
#   docker build -t recsys-service .        (add `--network host` where the default bridge has no internet)
# docker-compose.yml runs both; README, "Deploy with Docker", tells how.

# ---- dependencies: a virtualenv holding them ----
FROM python:3.11-slim AS dependencies
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_USE_LEGACY_KERAS=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# After the install, what no process reads goes: the packages' test suites (about 80 MB), TensorFlow's C++
# headers (about 350 MB, only for compiling custom ops), libclang (62 MB; TensorFlow requires it, but none
# of its Python imports it) and pip itself (16 MB). The byte code pip compiled stays: without it every
# process compiles TensorFlow's Python again at start, about 10 s more. The import proves the pruned stack
# still loads.
# requirements.lock pins every package (and setuptools, the build backend) with its hashes; pip refuses
# anything else. This layer is keyed on the lock alone: code changes reuse it.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes -r /tmp/requirements.lock \
 && find /opt/venv -type d -name tests -prune -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3.11/site-packages/tensorflow/include \
 && pip uninstall --yes libclang pip \
 && python -c "import tensorflow, tf_keras, tensorflow_recommenders, scann, pandas, pyarrow, matplotlib"

# ---- project: `pip install .` into the same virtualenv, staged under /staging ----
# --root puts only the project's own files (packages, metadata, the recsys-* scripts) under /staging, at
# their final paths, so the runtime adds them as a small layer on top of the cached dependencies.
# --no-deps: they are installed above (without libclang, which pip would otherwise bring back);
# --no-build-isolation: built by the locked setuptools installed above. pip comes back from the standard
# library's bundled copy (ensurepip, offline) for this stage only.
FROM dependencies AS project
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app app
COPY models models
COPY training training
COPY events events
RUN python -m ensurepip \
 && python -m pip install --no-deps --no-build-isolation --no-warn-script-location --root /staging .

# ---- runtime: the base image, the dependencies, the project; no compilers, caches or build files ----
FROM python:3.11-slim

# A fixed uid, so a bind-mounted artifact directory can be handed to it (chown 10001). /artifacts (and /events,
# for a SQLite event log) belong to it, so a fresh named volume mounted there inherits that ownership.
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin recsys \
 && mkdir /artifacts /events \
 && chown recsys:recsys /artifacts /events
COPY --from=dependencies /opt/venv /opt/venv

# TF_USE_LEGACY_KERAS: TensorFlow Recommenders needs Keras 2. RECSYS_* set the flags' defaults (recsys-serve
# reads them all, recsys-train RECSYS_ARTIFACTS and RECSYS_LOG_LEVEL); override them with `-e` or compose.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_USE_LEGACY_KERAS=1 \
    RECSYS_ARTIFACTS=/artifacts \
    RECSYS_HOST=0.0.0.0 \
    RECSYS_PORT=8000 \
    RECSYS_WORKERS=1 \
    RECSYS_LOG_LEVEL=info
USER recsys
WORKDIR /home/recsys
# Matplotlib's font cache (training plots), built once here rather than in every training run.
RUN python -c "import matplotlib.font_manager"
COPY --from=project /staging/ /

EXPOSE 8000
# Healthy once a model version is loaded (/readyz answers 200); follows RECSYS_PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('RECSYS_PORT', '8000'), timeout=4)"]
CMD ["recsys-serve"]
