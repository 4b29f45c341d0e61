# Production image: one `gavel` binary; run `gavel api` or `gavel worker`.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin gavel

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 gavel
COPY --from=build /src/target/release/gavel /usr/local/bin/gavel
USER gavel
ENV GAVEL_LOG_FORMAT=json GAVEL_HTTP_ADDR=0.0.0.0:3000
EXPOSE 3000
ENTRYPOINT ["gavel"]
CMD ["api"]
