# The book's Dockerfile with its second RUN split in three (01's multi-RUN shape).
FROM alpine:3.22
RUN apk add python3
RUN apk add py3-pip
RUN pip3 install --break-system-packages django==5.2.19
RUN apk del py3-pip
