# syntax=docker/dockerfile:1
# Build: compile TypeScript and the native SQLite binding, then keep production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.web.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
COPY tools ./tools
COPY web ./web
RUN node scripts/build.mjs && npm prune --omit=dev

# Run: Node 24, no build tools, a non-root user; the gateway itself (no demo double).
FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=6010 HOST=0.0.0.0 CONFIG_PATH=config/provider.json DATA_DIR=data LOG_DIR=logs TZ=UTC
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /app/config /app/data /app/logs \
 && chown node:node /app/data /app/logs
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/web ./dist/web
COPY package.json ./
USER node
EXPOSE 6010
VOLUME ["/app/data", "/app/logs"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
# tini forwards SIGTERM/SIGHUP/SIGUSR2 to node and reaps zombies.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
