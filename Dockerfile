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
EXPOSE 8080 9092
USER nonroot:nonroot
ENTRYPOINT ["/gateway"]
