# syntax=docker/dockerfile:1
# Build stage: cgo is on because the PostgreSQL parser (libpg_query through
# pg_query_go) is C.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/gatehouse ./cmd/gatehouse

# Runtime stage: glibc for the cgo binary, OpenSSH's ssh-keygen for
# operators, and an unprivileged user owning the data directory.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/gatehouse --create-home gatehouse \
 && chmod 0700 /var/lib/gatehouse
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
USER 10001:10001
EXPOSE 2222 8443
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
