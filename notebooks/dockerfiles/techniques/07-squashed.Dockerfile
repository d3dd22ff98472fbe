# The book's multi-RUN image squashed into one layer: only what its last layer shows is kept.
FROM debian:bookworm-slim AS book
COPY wheels /wheels
RUN apt-get update && apt-get install -y python3
RUN apt-get install -y python3-pip
RUN pip3 install --break-system-packages --no-index --find-links /wheels django
RUN apt-get purge -y --auto-remove python3-pip

FROM scratch
COPY --from=book / /
