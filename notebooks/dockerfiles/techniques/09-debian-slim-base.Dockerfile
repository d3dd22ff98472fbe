# For contrast: the official Python image on Debian slim.
FROM python:3.12-slim
RUN pip install --no-cache-dir django==5.2.19
