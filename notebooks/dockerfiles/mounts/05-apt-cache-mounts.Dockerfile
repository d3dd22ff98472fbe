# The lists and the downloaded packages live in cache mounts: kept by the builder between builds, never in a layer.
FROM debian:bookworm-slim
RUN --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,target=/var/cache/apt,sharing=locked \
    apt-get update && apt-get install -y --no-install-recommends python3
