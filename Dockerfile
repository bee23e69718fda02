# weibao: a static binary on a minimal base. Configuration and the SQLite data
# directory are volumes; secrets come from WEIBAO_* environment variables.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/weibao ./cmd/weibao
# The data volume must belong to the non-root user: a root-owned /app/data
# fails at start with "unable to open database file: out of memory (14)".
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/weibao /app/weibao
COPY --from=build --chown=65532:65532 /out/data /app/data
COPY --from=build /src/configs/weibao.example.yaml /app/configs/weibao.example.yaml
# /app/configs/weibao.yaml is read when mounted; /app/data holds the SQLite file.
VOLUME ["/app/configs", "/app/data"]
ENV WEIBAO_SERVER_ADDR=:8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/app/weibao"]
CMD ["serve"]
