# The production image: one `gavel` binary; `gavel api`, `gavel worker`,
# `gavel migrate` and `gavel admin setup-temporal` are its commands.
#
# Dependencies are compiled in a layer of their own (cargo-chef), so a change
# to Gavel's code rebuilds Gavel only. SQL is checked against the committed
# query data in .sqlx/, so the build needs no database.

FROM rust:1.95-bookworm AS chef
RUN apt-get update \
    && apt-get install -y --no-install-recommends protobuf-compiler \
    && rm -rf /var/lib/apt/lists/* \
    && cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
ENV SQLX_OFFLINE=true
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json --bin gavel
COPY . .
RUN cargo build --release --locked --bin gavel

FROM debian:bookworm-slim
# curl is for the container healthcheck (`/api/v1/ready`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home gavel
COPY --from=build /src/target/release/gavel /usr/local/bin/gavel
USER gavel
ENV GAVEL_LOG_FORMAT=json GAVEL_HTTP_ADDR=0.0.0.0:3000
EXPOSE 3000
ENTRYPOINT ["gavel"]
CMD ["api"]
