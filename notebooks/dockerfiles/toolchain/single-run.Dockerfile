# The book's fix: install, use and remove the toolchain in one RUN, so no layer ever holds it.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
COPY speedups.c /src/speedups.c
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev python3-dev && \
    gcc -shared -fPIC -O2 $(python3-config --includes) /src/speedups.c -o speedups$(python3-config --extension-suffix) && \
    python3 -c 'import speedups; print(speedups.checksum(b"layer"))' && \
    apt-get purge -y --auto-remove gcc libc6-dev python3-dev && rm -rf /var/lib/apt/lists/*
