# Nothing build-only is installed at all: pip runs from its own wheel, in the mounted wheels, and goes with them.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y python3
RUN --mount=type=bind,source=wheels,target=/wheels \
    python3 /wheels/pip-25.3-py3-none-any.whl/pip install --break-system-packages --no-index --find-links /wheels django
