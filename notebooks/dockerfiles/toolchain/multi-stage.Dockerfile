# Beyond the book: build in a stage that is never shipped, and copy only the built module out.
FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*

FROM runtime AS build
COPY speedups.c /src/speedups.c
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev python3-dev
RUN gcc -shared -fPIC -O2 $(python3-config --includes) /src/speedups.c -o speedups$(python3-config --extension-suffix)

FROM runtime
WORKDIR /app
COPY --from=build /app/ /app/
RUN python3 -c 'import speedups; print(speedups.checksum(b"layer"))'
