# syntax=docker/dockerfile:1
# Rampart's image: a static binary on distroless, as a user that is not
# root, on a root filesystem that can be read-only (rampart writes nothing
# to disk; its log goes to stderr). docs/operations.md shows how to run it.
#   docker build -t rampart .
#   docker build --build-arg VERSION=v1.2.3 -t rampart:v1.2.3 .

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# The whole checkout, .git included, so the go command stamps the revision
# (`rampart version`); .dockerignore leaves out only what git ignores.
COPY . .
ARG VERSION=""
# The same build as scripts/test.sh checks: scripts/build-static.sh.
RUN --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    VERSION="$VERSION" scripts/build-static.sh /out/rampart

# Static, with CA certificates, tzdata and /etc/passwd for "nonroot" (65532);
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="rampart" \
      org.opencontainers.image.description="Real-time WebSocket messaging server, secure by construction" \
      org.opencontainers.image.source="https://github.com/rampart-rt/rampart"
COPY --from=build /out/rampart /usr/local/bin/rampart
USER 65532:65532
EXPOSE 8080
# The image has no curl: rampart probes itself. With TLS on the main
# listener, point --url at metrics.listen (plain HTTP, /healthz too).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/rampart", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
# SIGTERM (docker stop) shuts down gracefully; give it 30 s: docker stop -t 30.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rampart"]
CMD ["serve", "--config", "/etc/rampart/rampart.yaml"]
