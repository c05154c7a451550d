#!/usr/bin/env python3
"""Writes COUNT packaged Helm charts for ci/bench.d/helm.sh: `chart<i>-0.1.0.tgz` (i = 1..COUNT),
each a chart named `chart<i>`, version 0.1.0, laid out as `helm package` writes it (a gzip
compressed tar of `chart<i>/Chart.yaml`, `values.yaml`, `templates/deployment.yaml`,
`templates/service.yaml`, regular files, mode 0644), deterministically (mtime 0, owner 0:0), as
fixtures/charts/make.py does. About 1 KiB each.

Usage: make_charts.py DIR COUNT
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "charts"))
from make import package  # noqa: E402  (the fixtures' packaging, one way to write a chart)

DEPLOYMENT = b"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .Chart.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ .Chart.Name }}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - containerPort: {{ .Values.port }}
"""

SERVICE = b"""apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app.kubernetes.io/name: {{ .Chart.Name }}
  ports:
    - port: 80
      targetPort: {{ .Values.port }}
"""


def main() -> int:
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    root, count = sys.argv[1], int(sys.argv[2])
    os.makedirs(root, exist_ok=True)
    for i in range(1, count + 1):
        name = f"chart{i}"
        chart = (
            f"apiVersion: v2\nname: {name}\ndescription: Benchmark chart {i} of ci/bench\n"
            f"type: application\nversion: 0.1.0\nappVersion: \"1.0.{i}\"\n"
        ).encode()
        values = f"replicas: 1\nport: 8080\nimage:\n  repository: example.com/app{i}\n  tag: \"1.0.{i}\"\n".encode()
        data = package([
            (f"{name}/Chart.yaml", chart),
            (f"{name}/values.yaml", values),
            (f"{name}/templates/deployment.yaml", DEPLOYMENT),
            (f"{name}/templates/service.yaml", SERVICE),
        ])
        with open(os.path.join(root, f"{name}-0.1.0.tgz"), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
