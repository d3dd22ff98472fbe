# The base the book's comment suggests: Python already installed, on Alpine.
FROM python:3.12-alpine
RUN pip install --no-cache-dir django==5.2.19
