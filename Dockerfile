# The integration tests with avahi-daemon in a container: the same scripts as CI on a machine
# (`.ci/run` -> `scripts/test` -> `scripts/netlab`). Network namespaces need a privileged
# container: `docker compose run --rm tests` (compose.yaml sets `privileged: true`).
FROM rust:1.85-bookworm

# No package install may start a service in the container's own namespace (policy-rc.d stays).
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
# The packages, python-zeroconf and cargo-nextest: the same script scripts/test and .ci/run run.
COPY scripts/install-deps /usr/local/bin/dnssd-install-deps
RUN dnssd-install-deps \
 && rm -rf /var/lib/apt/lists/* \
 && rustup component add rustfmt clippy

WORKDIR /src
COPY . .
# Fetch dependencies while the network is there; tests run --offline inside namespaces.
RUN cargo fetch --locked
ENV CI=true
CMD ["bash", ".ci/run"]
