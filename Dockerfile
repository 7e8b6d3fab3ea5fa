# The image `suite k8s render` runs: `suite` and `monitoring-agent`, as a non-root user.
#   docker build -t registry.example.com/suite:1.0 . && docker push registry.example.com/suite:1.0
# Suites with `executor: k6` or `locust` need those tools too: build FROM this image and add them.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p suite -p monitoring-agent \
    && strip target/release/suite target/release/monitoring-agent

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/suite /src/target/release/monitoring-agent /usr/local/bin/
# uid and gid 10001: the manifests' runAsUser and fsGroup (`USER_ID` in src/k8s/manifests.rs).
RUN groupadd --gid 10001 suite \
    && useradd --uid 10001 --gid suite --home-dir /suite --no-create-home --shell /usr/sbin/nologin suite \
    && mkdir /suite && chown suite:suite /suite
USER 10001:10001
# The pods' working folder: the suite's files are mounted (or, with --suite-in-image, copied) here.
WORKDIR /suite
ENTRYPOINT ["suite"]
CMD ["--help"]
