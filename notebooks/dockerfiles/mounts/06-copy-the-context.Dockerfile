# The project copied in whole: whatever the build context holds, this COPY's layer holds.
FROM debian:bookworm-slim
WORKDIR /app
COPY . .
