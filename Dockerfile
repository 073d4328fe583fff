# The integration tests with avahi-daemon in a container: the same scripts as CI on a machine
# (`.ci/run` -> `scripts/test` -> `scripts/netlab`). Network namespaces need a privileged
# container: `docker compose run --rm tests` (compose.yaml sets `privileged: true`).
FROM rust:1.85-bookworm

RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      avahi-daemon avahi-utils dbus libavahi-compat-libdnssd-dev libclang-dev clang \
      pkg-config iproute2 bind9 bind9-utils bind9-dnsutils tcpdump tshark valgrind python3-pip procps \
 && rm -rf /var/lib/apt/lists/* \
 && pip3 install --break-system-packages zeroconf==0.154.0 \
 && rustup component add rustfmt clippy \
 && cargo install --locked cargo-nextest

WORKDIR /src
COPY . .
# Fetch dependencies while the network is there; tests run --offline inside namespaces.
RUN cargo fetch --locked
ENV CI=true
CMD ["bash", ".ci/run"]
