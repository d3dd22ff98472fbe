# The book's Dockerfile: install, use and remove py3-pip in one RUN.
FROM alpine:3.22
RUN apk add python3
RUN apk add py3-pip && \
    pip3 install --break-system-packages django==5.2.19 && \
    apk del py3-pip
