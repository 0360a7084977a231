# The haoshangliang service image: `hsl` and its dependencies, nothing else.
# compose.yaml builds it for the API (`hsl serve`) and the projector (`hsl project`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY events ./events
COPY service ./service
COPY projections ./projections
COPY replay ./replay
# The lock's exact versions, then the project with nothing more resolved.
RUN pip install --no-deps -r requirements.lock \
    && pip install --no-deps --no-build-isolation . \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin hsl \
    && mkdir /data \
    && chown hsl /data

USER hsl
WORKDIR /data
# The data directory: signing key, users, DuckDB views. compose mounts a volume here.
ENV HSL_DATA_DIR=/data

ENTRYPOINT ["hsl"]
CMD ["serve"]
