# etcd for the demo cluster, from Debian's etcd-server package (etcd 3.4), on the same
# debian:12-slim as the stolon image: no other base image. Build from the repository root:
#   docker build -f docker/etcd.Dockerfile -t stolon-bun-etcd:demo .
# To use the official image instead, see docker/README.md (ETCD_IMAGE).
FROM debian:12-slim
# The package's postinst creates the system user etcd; no service is started in a build.
RUN apt-get update \
 && apt-get install -y --no-install-recommends etcd-server etcd-client \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /etcd-data \
 && chown etcd:etcd /etcd-data \
 && chmod 700 /etcd-data
USER etcd
VOLUME /etcd-data
EXPOSE 2379 2380
CMD ["etcd", "--help"]
