# A virtual environment built in one stage and copied into a clean runtime stage.
FROM alpine:3.22 AS build
RUN apk add --no-cache python3
RUN python3 -m venv /venv && \
    /venv/bin/pip install --no-cache-dir django==5.2.19

FROM alpine:3.22
RUN apk add --no-cache python3
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH
