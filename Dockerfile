# The image `dedup-lab k8s job` runs (README, "Running the study on a Kubernetes cluster"):
#   docker build -t registry.example.com/dedup-lab:0.1.0 .
# Build stage: all dependencies (native ones compile if no prebuilt binary fits), then the
# TypeScript build into dist/, then the dev dependencies are dropped.
ARG NODE_IMAGE=node:22-bookworm-slim
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY lib ./lib
COPY bin ./bin
RUN npm ci
RUN npm run build && test -f dist/cli/main.js
RUN npm prune --omit=dev

# Runtime stage: node, the built CLI, its production dependencies and the files it reads at run time.
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY data-manifests ./data-manifests
COPY scripts ./scripts
COPY examples ./examples
# The node image's unprivileged user (uid 1000): the Job's securityContext runs as it.
USER node
ENTRYPOINT ["node", "/app/bin/dedup-lab.js"]
CMD ["--help"]
