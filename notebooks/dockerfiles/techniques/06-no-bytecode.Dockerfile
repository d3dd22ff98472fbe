# As 05, without bytecode: pip does not compile, and Python writes no .pyc at run time.
# Trade-off: every start of the app compiles its modules again, so it starts slower.
FROM alpine:3.22
ENV PYTHONDONTWRITEBYTECODE=1
RUN apk add --no-cache python3
RUN apk add --no-cache --virtual .build-deps py3-pip && \
    pip3 install --no-cache-dir --no-compile --break-system-packages django==5.2.19 && \
    apk del .build-deps
