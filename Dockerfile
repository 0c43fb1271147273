# Build the worker and the enqueue CLI as static binaries.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The context has no .git, so --version takes the commit from COMMIT:
#   docker build --build-arg COMMIT=$(git rev-parse HEAD) .
ARG COMMIT=""
RUN flags="-s -w -X github.com/punctualhq/punctual/internal/version.Commit=${COMMIT}" \
 && CGO_ENABLED=0 go build -trimpath -ldflags="$flags" -o /out/worker ./cmd/worker \
 && CGO_ENABLED=0 go build -trimpath -ldflags="$flags" -o /out/enqueue ./cmd/enqueue

# A small image with nothing but the binaries, running as a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/enqueue /usr/local/bin/
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/worker"]
