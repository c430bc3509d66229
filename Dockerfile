# hostpulse API. Multi-stage: dependencies are installed once, the runtime image runs as a non-root user.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` bundles the agent, which this image does not run (agent/Dockerfile does).
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0 HOSTPULSE_DATA_DIR=/var/lib/hostpulse HOSTPULSE_LOCAL_AGENT=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY contract ./contract
COPY services ./services
COPY agent ./agent
COPY sql ./sql
RUN mkdir -p /var/lib/hostpulse && chown node:node /var/lib/hostpulse
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "services/main.ts"]
