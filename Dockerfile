FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Production: refuses to start until every secret is set (see the README, Operations).
ENV O2O_ENV=production
COPY pyproject.toml README.md alembic.ini ./
COPY o2o ./o2o
COPY api ./api
COPY migrations ./migrations
COPY stores_data ./stores_data
RUN pip install --no-cache-dir . && useradd --system o2o \
    && mkdir -p /var/lib/o2o && chown o2o /var/lib/o2o
# The write journal and the last catalog snapshot (a volume in docker-compose.yml).
ENV O2O_STATE_DIR=/var/lib/o2o
USER o2o
EXPOSE 8000
CMD ["o2o", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
