# The eipd image: `docker build -t eipd .` (or podman/buildah), then
#   docker run --rm -p 4599:4599 -v eipd-data:/data eipd
# Listens on 0.0.0.0:4599 inside the container; state in the /data volume
# (embedded store); `docker run … eipd serve --store memory` for throwaway state.
#
# WARNING: the default `--auth open` accepts ANY well-formed signature, and
# `POST /moto-api/reset` wipes everything. Publish the port only on a machine
# or network you trust (`-p 127.0.0.1:4599:4599` keeps it local), or run
# `serve --auth strict --credentials /data/credentials.toml` (see README,
# Security).
#
# scripts/check-dockerfile runs the build command below in CI (the binary the
# wheel and the Python tests use) and starts that binary with this file's
# ENV, ENTRYPOINT, CMD and HEALTHCHECK, so what is written here is what CI runs.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin eipd \
    && mkdir /data && chown eipd:eipd /data
COPY --from=build /src/target/release/eipd /usr/local/bin/eipd
USER eipd
VOLUME /data
ENV EIPD_LISTEN=0.0.0.0:4599 EIPD_DATA_DIR=/data
EXPOSE 4599
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/4599 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["eipd"]
CMD ["serve"]
