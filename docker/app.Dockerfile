# The reference service (echoes-api) under `node --import echoes-otel/register`, for
# `docker compose --profile app up`. Build from the repository root.
FROM node:24.19.0-alpine AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY instrumentation ./instrumentation
COPY src ./src
COPY scripts/bundle.mjs scripts/package-extras.mjs ./scripts/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24.19.0-alpine
ENV NODE_ENV=production
# The service's own directories and path groups (echoes-otel's defaults name only its log and
# config directories), relative to /app: serviceTelemetryEnv('.', 'logs') in
# src/service/options.ts, which test/unit/src/service/options.test.ts holds this line to.
ENV ECHOES_DIRS=logs=logs,cache/embeddings=.cache/embeddings,sessions=data/memory \
    ECHOES_FS_PATH_GROUPS=logs=logs,sessions=data/memory,cache=.cache,config=config
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p logs data .cache && chown -R node:node /app
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=6 CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "./dist/bundle/register.js", "dist/src/service/main.js"]
