# The conformance runner as a container image that needs no Docker inside: the cnb-artifacts
# binary, the suite data under /suite (cases, fixtures, adapters, mutants, spec, coverage),
# Distribution (Debian's docker-registry binary and its config) for the process registry
# provider, and a static busybox for adapters (shell scripts) — laid out under rootfs/ by
# ci/runner-image. No base image, so nothing is pulled.
#   docker run --rm -v "$PWD:/w" cnb-artifacts/conformance-runner:local \
#       conformance run --implementation /w/adapter.sh
FROM scratch
ARG REVISION=unknown
ARG REGISTRY_VERSION=unknown
LABEL org.opencontainers.image.title="cnb-artifacts conformance runner" \
      org.opencontainers.image.revision=$REVISION \
      io.buildpacks.cnb-artifacts.registry.version=$REGISTRY_VERSION
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin CNB_CONFORMANCE_DIR=/suite
WORKDIR /w
ENTRYPOINT ["/usr/local/bin/cnb-artifacts"]
CMD ["conformance", "run"]
