# Prometheus for the demo cluster, from Debian's prometheus package (2.42, the version whose
# promtool checks docker/monitoring/ in the tests), on the same debian:12-slim as the other
# images: no other base image. Build from the repository root:
#   docker build -f docker/prometheus.Dockerfile -t stolon-bun-prometheus:demo .
# The configuration and rules are mounted by docker-compose.yml from docker/monitoring/.
FROM debian:12-slim
# The package's postinst creates the system user prometheus; no service is started in a build.
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus \
 && chown prometheus:prometheus /prometheus
USER prometheus
VOLUME /prometheus
EXPOSE 9090
# As in the official image (prom/prometheus), so that docker-compose.yml's command suits both.
ENTRYPOINT ["prometheus"]
CMD ["--help"]
