# Beyond the book: install in a stage that is never shipped, and copy only the installed packages out.
FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*

FROM runtime AS build
COPY wheels /wheels
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip && \
    pip3 install --break-system-packages --no-compile --no-index --find-links /wheels django

FROM runtime
COPY --from=build /usr/local/lib/python3.11/dist-packages /usr/local/lib/python3.11/dist-packages
