# As 03, with the build-only packages grouped under a virtual name and removed by it.
FROM alpine:3.22
RUN apk add --no-cache python3
RUN apk add --no-cache --virtual .build-deps py3-pip && \
    pip3 install --break-system-packages django==5.2.19 && \
    apk del .build-deps
