# One image for every process: `interagency migrate`, `interagency api`, `interagency worker`
# (see docker-compose.yml), or `interagency serve` on its own with the embedded PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs; pyproject.toml names README.md as the long description.
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY api ./api
COPY interagency ./interagency
RUN pip install . && rm -rf build ./*.egg-info

# The service never runs as root. /data is the embedded server's folder, used only when
# neither POSTGRES_HOST nor DATABASE_URL is set (`docker run` of the image on its own);
# mount a named volume there to keep the data (a named volume inherits the owner 10001).
RUN groupadd --gid 10001 interagency \
    && useradd --uid 10001 --gid interagency --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin interagency \
    && mkdir /data && chown interagency:interagency /data
USER 10001:10001

ENV INTERAGENCY_DATA_DIR=/data \
    INTERAGENCY_LOG_FORMAT=json
EXPOSE 8000

ENTRYPOINT ["interagency"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
