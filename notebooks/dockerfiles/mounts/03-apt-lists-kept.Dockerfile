# apt's package lists are downloaded into the layer, and stay there.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3
