# The reference implementation as a container image, the way the CNB lifecycle ships: the
# conformance adapter as entrypoint (conformance/adapters/reference.sh), the cnb-artifacts
# binary, the libraries it links and a static busybox for the adapter's shell, laid out under
# rootfs/ by ci/reference-image. No base image, so nothing is pulled.
#   cnb-artifacts conformance run --implementation-image cnb-artifacts/reference-implementation:local
FROM scratch
ARG REVISION=unknown
LABEL org.opencontainers.image.title="cnb-artifacts reference implementation" \
      org.opencontainers.image.revision=$REVISION
COPY rootfs/ /
ENV PATH=/usr/local/bin:/bin CNB_ARTIFACTS_BIN=/usr/local/bin/cnb-artifacts
ENTRYPOINT ["/usr/local/bin/reference-adapter"]
