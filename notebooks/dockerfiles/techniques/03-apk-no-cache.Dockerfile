# As 02, with apk's --no-cache: no package index is left in any layer.
FROM alpine:3.22
RUN apk add --no-cache python3
RUN apk add --no-cache py3-pip && \
    pip3 install --break-system-packages django==5.2.19 && \
    apk del py3-pip
