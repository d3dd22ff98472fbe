# The book's fix: pip installed, used and purged in one RUN, so no layer ever holds it.
FROM debian:bookworm-slim
COPY wheels /wheels
RUN apt-get update && apt-get install -y python3
RUN apt-get install -y python3-pip && \
    pip3 install --break-system-packages --no-index --find-links /wheels django && \
    apt-get purge -y --auto-remove python3-pip
