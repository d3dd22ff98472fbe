# Only what each package needs: apt installs no "recommended" packages (python3-pip recommends a C toolchain).
FROM debian:bookworm-slim
COPY wheels /wheels
RUN apt-get update && apt-get install -y --no-install-recommends python3
RUN apt-get install -y --no-install-recommends python3-pip && \
    pip3 install --break-system-packages --no-index --find-links /wheels django && \
    apt-get purge -y --auto-remove python3-pip
