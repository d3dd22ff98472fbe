# The book's one RUN, with the wheels bind-mounted from the build context for that RUN alone: no layer holds them.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y python3
RUN --mount=type=bind,source=wheels,target=/wheels \
    apt-get install -y python3-pip && \
    pip3 install --break-system-packages --no-index --find-links /wheels django && \
    apt-get purge -y --auto-remove python3-pip
