# The book's shape on Debian: python3, then the build-only pip installed, used and purged in three more RUNs.
FROM debian:bookworm-slim
COPY wheels /wheels
RUN apt-get update && apt-get install -y python3
RUN apt-get install -y python3-pip
RUN pip3 install --break-system-packages --no-index --find-links /wheels django
RUN apt-get purge -y --auto-remove python3-pip
