# The same, and pip compiles no bytecode: Python compiles each module when it is first imported instead.
FROM debian:bookworm-slim
COPY wheels /wheels
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip && \
    pip3 install --break-system-packages --no-compile --no-index --find-links /wheels django && \
    apt-get purge -y --auto-remove python3-pip && \
    rm -rf /var/lib/apt/lists/* /wheels
