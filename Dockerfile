# Build: a static binary (pure Go: SQLite is modernc.org/sqlite, no cgo).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gateway ./cmd/gateway \
 && mkdir -p /out/data

# Run: no shell, no root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
COPY --from=build --chown=65532:65532 /out/data /data
ENV GATEWAY_DATA_DIR=/data GATEWAY_HTTP_ADDR=:8080
VOLUME /data
# Webhooks, chat, the operator API (and /metrics, /readyz, /healthz unless
# GATEWAY_OPS_ADDR moves them). No 9092: the embedded broker listens on the
# container's loopback; see the README to reach the events from outside.
EXPOSE 8080
USER nonroot:nonroot
# Exec form (the image has no shell): GET /readyz on GATEWAY_OPS_ADDR, else
# GATEWAY_HTTP_ADDR, on loopback; unhealthy after 3 failures in a row.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/gateway", "healthcheck"]
ENTRYPOINT ["/gateway"]
