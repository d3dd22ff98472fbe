# As 04, with pip's --no-cache-dir: pip's download cache never reaches a layer.
FROM alpine:3.22
RUN apk add --no-cache python3
RUN apk add --no-cache --virtual .build-deps py3-pip && \
    pip3 install --no-cache-dir --break-system-packages django==5.2.19 && \
    apk del .build-deps
