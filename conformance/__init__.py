"""Conformance checks of the platform's APIs against the official reference OpenAPI files.

``conformance.reference`` validates bodies against any reference document (OAS 3.0 or 3.1);
``python -m conformance mp1`` plays a scripted Mp1 scenario against a running platform.
"""
